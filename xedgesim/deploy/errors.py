"""Errors of staging and deploying that are the world's fault: reported as a message, never a
traceback. Each carries the exit code the command ends with (see :mod:`xedgesim.errors`)."""

from __future__ import annotations

import signal

from xedgesim.errors import EXIT_BAD_INPUT, EXIT_FAILED, XedgeError

EXIT_INTERRUPTED = 130

__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILED", "EXIT_INTERRUPTED", "DeployError", "Interrupted",
           "ReleaseRefused", "UsageError"]


class DeployError(XedgeError):
    """A step could not be done; the message says what, where, and what to do about it."""

    exit_code = EXIT_FAILED


class UsageError(DeployError):
    """The command was asked for something impossible (a missing file, an unknown step)."""

    exit_code = EXIT_BAD_INPUT


class ReleaseRefused(DeployError):
    """An image is not vouched for by a passing release manifest; ``--force`` overrides."""

    exit_code = EXIT_BAD_INPUT


class Interrupted(DeployError):
    """Ctrl-C or SIGTERM: the running playbook was cancelled and cleanup ran. Exits as a shell
    reports the signal (128 + its number: 130 for Ctrl-C, 143 for SIGTERM), as
    :mod:`xedgesim.interrupts` does."""

    exit_code = EXIT_INTERRUPTED

    def __init__(self, message: str, signum: int = signal.SIGINT) -> None:
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum
