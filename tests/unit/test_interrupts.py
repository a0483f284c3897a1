"""SIGINT and SIGTERM become one exception; cleanup blocks hold them until they are done."""

from __future__ import annotations

import os
import signal

import pytest

from xedgesim.interrupts import Interrupted, deferred, exit_code, signals_as_interrupt


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_both_signals_raise_the_same_exception_with_their_exit_code(
        signum: int, sigint_handled: None) -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Interrupted) as caught, signals_as_interrupt():
        os.kill(os.getpid(), signum)
    assert isinstance(caught.value, KeyboardInterrupt)
    assert caught.value.signum == signum and exit_code(caught.value) == 128 + signum
    assert signal.getsignal(signal.SIGTERM) == before


def test_an_ignored_sigint_stays_ignored() -> None:
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with signals_as_interrupt():
            assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) != signal.SIG_DFL
    finally:
        signal.signal(signal.SIGINT, previous)


def test_deferred_holds_signals_until_the_block_is_done() -> None:
    done = []
    with pytest.raises(Interrupted) as caught, signals_as_interrupt(), deferred():
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)
        done.append("cleanup finished")
    assert done == ["cleanup finished"]
    assert caught.value.signum == signal.SIGTERM


def test_a_plain_keyboard_interrupt_is_sigint() -> None:
    assert exit_code(KeyboardInterrupt()) == 130
