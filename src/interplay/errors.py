"""The one exception type that means "the user gave us something we cannot use".

The CLI turns it into a one-line message on stderr and exit status 2 (never a traceback).
Anything else escaping a command is a bug in interplay and keeps its traceback.
"""


class UserError(Exception):
    """Bad input from the user: a config field, a path, a flag. The message names the culprit."""

    exit_code = 2
