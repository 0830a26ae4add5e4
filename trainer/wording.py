"""Wording the messages of every command share."""

# an image of a dataset's test set, named with its index in that set: "test image 41"
TEST_IMAGE = "test image"


def counted(n: int, noun: str) -> str:
    """`n` and `noun`, plural unless n is 1: "1 request", "2 requests", "1,000 images",
    "2 recoveries"."""
    if n == 1:
        return f"{n:,} {noun}"
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return f"{n:,} {noun[:-1]}ies"
    return f"{n:,} {noun}s"
