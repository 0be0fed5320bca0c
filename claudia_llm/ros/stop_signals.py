"""SIGINT and SIGTERM as a graceful stop: the context stays valid until the node drained.

rclpy's own handler (Galactic and later) shuts the context down the moment a signal
arrives, so every answer still in flight fails to publish ("publisher's context is
invalid", issue 16), and Foxy's rclpy does not handle SIGTERM at all (the process dies
at once). ``StopSignals`` replaces both handlers with one that only sets an event;
``spin_until_stopped`` spins the node until then (``spin_once`` with a short timeout, so
the Python handler runs within ``SPIN_PERIOD_S`` while rcl waits). The caller then stops
the node (``LlmNode.stop``), destroys it and calls ``try_shutdown``, in that order.

Installed after the executor exists: on Foxy, rclpy installs its SIGINT handler when the
first executor registers its guard condition, which would replace ours.
"""
import signal
import threading
import time
from typing import Callable, Optional

from rclpy.executors import SingleThreadedExecutor

SPIN_PERIOD_S = 0.1
"""Longest wait in rcl between two looks at the stop event, s."""
FLUSH_IDLE_S = 0.1
"""After the signal, spinning goes on until no utterance arrived for this long, s ..."""
FLUSH_BOUND_S = 1.0
"""... and at most this long: what DDS delivered before the stop is taken, not dropped."""


class StopSignals:
    """SIGINT and SIGTERM set ``event`` (the first one; later ones are ignored)."""

    def __init__(self):
        self.event = threading.Event()
        self.received = ''  # 'SIGINT' or 'SIGTERM' once one arrived

    def install(self) -> None:
        """Handle SIGINT and SIGTERM from now on (call from the main thread)."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum, _frame) -> None:
        if not self.event.is_set():  # a second Ctrl-C: the stop under way has its budgets
            self.received = signal.Signals(signum).name
            self.event.set()


def spin_until_stopped(node, signals: StopSignals,
                       taken: Optional[Callable[[], int]] = None) -> None:
    """Spin ``node`` in this (main) thread until a signal arrives or the context ends.

    Args:
        node: the node to spin.
        signals: installed here, after the executor exists.
        taken: count of utterances taken so far; with it, spinning goes on after the
            signal until the subscription is quiet (``FLUSH_IDLE_S``, at most
            ``FLUSH_BOUND_S``), so messages DDS already delivered to the reader are
            answered rather than discarded with the subscription.
    """
    executor = SingleThreadedExecutor(context=node.context)
    executor.add_node(node)
    signals.install()
    try:
        while not signals.event.is_set() and node.context.ok():
            executor.spin_once(timeout_sec=SPIN_PERIOD_S)
        if taken is not None:
            _flush(executor, node, taken)
    finally:
        executor.remove_node(node)
        executor.shutdown(timeout_sec=1.0)


def _flush(executor, node, taken: Callable[[], int]) -> None:
    now = time.monotonic()
    bound, quiet_until, last = now + FLUSH_BOUND_S, now + FLUSH_IDLE_S, taken()
    while node.context.ok() and time.monotonic() < min(quiet_until, bound):
        executor.spin_once(timeout_sec=FLUSH_IDLE_S / 4.0)
        if taken() != last:
            last, quiet_until = taken(), time.monotonic() + FLUSH_IDLE_S
