"""The command line: the only layer that prints, and the one place library errors become messages and exit codes."""

from evidence.cli.commands import app, main

__all__ = ["app", "main"]
