"""The one error base of the tools: a problem the user can act on, told in one line.

Every command catches ``FatalError`` once (``tools.cli.main``, ``tools.provisioning.provision.main``,
``tools.configuration.release_sets.main``), prints ``error: <message>`` on stderr and exits with the
error's ``exit_code``; never a traceback.
"""

from __future__ import annotations

import argparse
import sys

#: Bad input: versions.toml, an option, a file.
EXIT_USAGE = 2
#: Something failed while running (a build, a step of provisioning).
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


def one_line(text: str) -> str:
    """``text`` with its control characters escaped (a newline in a value shows as \\n), so it stays one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def last_line(output: str, default: str = "no message") -> str:
    """The last line of a program's error output: what it says went wrong, in one line."""
    return (output.strip().splitlines() or [default])[-1]


class FatalError(Exception):
    """An error that ends the command with ``exit_code``: the message is one line."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str):
        super().__init__(one_line(str(message)))


class UsageError(FatalError):
    """Bad input that is not in versions.toml (arguments, files)."""


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the usage stays in --help), exit code 2."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"error: {self.prog}: {one_line(message)} (see --help)\n")


def tell(exc: BaseException) -> int:
    """Print a fatal error, a missing file or program, or an interruption in one line; the exit code."""
    if isinstance(exc, KeyboardInterrupt):
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    if isinstance(exc, OSError):  # a file or program the tools need, in one line rather than a traceback
        where = f": {exc.filename}" if exc.filename else ""
        print(f"error: {one_line(f'{exc.strerror or exc}{where}')}", file=sys.stderr)
        return EXIT_FAILED
    print(f"error: {one_line(str(exc))}", file=sys.stderr)
    return getattr(exc, "exit_code", EXIT_FAILED)


#: What a command's ``main`` turns into one line and an exit code.
CAUGHT = (FatalError, OSError, KeyboardInterrupt)
