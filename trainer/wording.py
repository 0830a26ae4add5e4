"""Wording the messages of every command share."""


def counted(n: int, noun: str) -> str:
    """`n` and `noun`, plural unless n is 1: "1 request", "2 requests", "1,000 images",
    "2 recoveries"."""
    if n == 1:
        return f"{n:,} {noun}"
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return f"{n:,} {noun[:-1]}ies"
    return f"{n:,} {noun}s"
