"""The command line: the only layer that prints, and the one place library errors become messages and exit codes.

Its modules do without `from __future__ import annotations`: typer reads every command's annotations at
each start, and string annotations are compiled and evaluated one by one (about 400 of them, 10-15 ms of
every run, a re-ingest's included).
"""

from evidence.cli.commands import app, main

__all__ = ["app", "main"]
