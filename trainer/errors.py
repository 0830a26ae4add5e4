"""The one exception type for errors a user can cause (bad data, bad model, no device...).

It lives at the root of the chain so that codegen and host raise the same type. The CLI prints
its message without a traceback and exits with status 2.
"""


class Bs4nnError(Exception):
    """An error the user can fix; the message says what to do."""
