"""Errors that reach the user as one line (the CLI maps them to exit code 2)."""


class UserError(Exception):
    """Bad input: a missing or corrupt file, a malformed flag, an unknown name.

    The message must name the file or flag at fault; the CLI prints ``error: <message>``
    and exits with status 2.
    """
