"""The runtime's two kinds of error: a diagnostic (``error[SL5xx]``, exit 1) and a path that cannot
be written (exit 2).
"""


class DataError(Exception):
    """A problem with the data or the training settings, shown as ``error[CODE]`` and a hint."""

    def __init__(self, code, message, hint=""):
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint

    def render(self):
        """The diagnostic text: ``error[CODE]: message`` and, if known, ``hint: ...``."""
        text = f"error[{self.code}]: {self.message}"
        return f"{text}\nhint: {self.hint}" if self.hint else text


class _OutputError(Exception):
    """A file or directory that cannot be written: one line naming it, exit code 2."""

    def __init__(self, path, reason):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason

    def render(self):
        return f"error: {self.path}: {self.reason}"


def _reason(error):
    """The operating system's words for an OSError, without its errno number."""
    return error.strerror or str(error) or type(error).__name__
