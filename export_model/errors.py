"""The one error type the CLI turns into a clean message and a non-zero exit."""


class ExportError(Exception):
    """An export that cannot proceed; the message tells the person what to do."""
