"""Errors every layer may raise, defined below the command line so no module has to import the CLI.

`UsageError` (and its subclasses) means "the user asked for something that cannot be done as
asked": the CLI prints it as one line and exits 2.  Anything else that escapes is a bug (exit 3).
"""

from __future__ import annotations

from typing import Iterable

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


class UsageError(Exception):
    """Bad command-line or config input: one line on stderr, exit code 2."""


class CliError(UsageError):
    """A usage error found by a front end (kept as its own name: older code and tests catch it)."""


def did_you_mean(word: str, choices: Iterable[str], cutoff: float = 0.6) -> str:
    """' (did you mean X?)' when one of `choices` is close to `word`, else ''; difflib, as git and ruff do."""
    choices = list(choices)
    upper = {c.upper(): c for c in choices}
    import difflib  # only a misspelling pays for it

    close = difflib.get_close_matches(word.upper(), list(upper), n=1, cutoff=cutoff)
    return f" (did you mean {upper[close[0]]}?)" if close else ""
