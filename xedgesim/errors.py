"""Errors that are the world's fault, not a bug: one base, reported once by the CLI.

Every error a user can act on derives from :class:`XedgeError`, which carries the exit code the
command ends with (``exit_code``) and what to print (``message``: the text, then the optional
``note``). ``xedge`` catches the base in one place (``xedgesim.cli.LazyGroup.invoke``) and
prints ``error: <message>`` to stderr with no traceback, so every command says the same mistake
the same way and exits with the same code. Ctrl-C and SIGTERM are not errors but
``KeyboardInterrupt`` (:mod:`xedgesim.interrupts`): ``except Exception`` must not swallow them.

This module imports nothing, so any module (light or heavy) can derive from it.
"""

from __future__ import annotations

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


class XedgeError(Exception):
    """An error the user can act on; ``str()`` says what, where and what to do about it.

    ``exit_code``: 1 for a run or check that failed, 2 for bad input or a refusal.
    ``note``: an extra line a command adds (what state the failure left behind).
    """

    exit_code: int = EXIT_FAILED
    note: str = ""

    @property
    def message(self) -> str:
        """The text printed after ``error:``, with the note on its own line."""
        text = str(self)
        return f"{text}\n{self.note}" if self.note else text


class BadInput(XedgeError):
    """The input (a file, an option, a directory) cannot be used; nothing was run."""

    exit_code = EXIT_BAD_INPUT


class NodeFailure(XedgeError):
    """A node could not run: its container failed, its engine is missing, or it broke the
    node protocol. The message names the node and says what happened."""
