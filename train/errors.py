"""The one error type for bad user input."""


class InputError(Exception):
    """Bad input: the message names the file (and line or task) and says what is wrong.

    The CLI prints it as one line and exits non-zero; it never shows a traceback.
    """
