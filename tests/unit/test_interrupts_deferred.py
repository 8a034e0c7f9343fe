"""``harness.interrupts.deferred``: SIGINT / SIGTERM inside the block arrive after it, through the
handlers that were installed (so an MLflow write is never cut half-way, leaving SQLite locked)."""

from __future__ import annotations

import os
import signal

import pytest

from harness import interrupts


@pytest.fixture
def handlers() -> object:
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    interrupts.install_sigterm_handler()
    yield
    for s, h in before.items():
        signal.signal(s, h)


def test_sigint_waits_for_the_end_of_the_block(handlers: object) -> None:
    done = []
    with pytest.raises(KeyboardInterrupt), interrupts.deferred():
        os.kill(os.getpid(), signal.SIGINT)
        done.append("the write finished")
    assert done == ["the write finished"] and interrupts.received() == signal.SIGINT


def test_sigterm_is_raised_as_terminated_after_the_block(handlers: object) -> None:
    done = []
    with pytest.raises(interrupts.Terminated):
        with interrupts.deferred(), interrupts.deferred():  # nested blocks deliver once, at the outer end
            os.kill(os.getpid(), signal.SIGTERM)
            done.append(1)
        done.append(2)  # not reached: the outer block delivers
    assert done == [1]


def test_handlers_are_restored_and_nothing_pending_raises_nothing(handlers: object) -> None:
    before = signal.getsignal(signal.SIGINT)
    with interrupts.deferred():
        assert signal.getsignal(signal.SIGINT) is not before
    assert signal.getsignal(signal.SIGINT) is before
