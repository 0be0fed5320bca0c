"""A counter of the LLM requests in flight to one Ollama host, shared by its users.

The in-node worker and the in-process fallback scheduler talk to the same Ollama host;
sharing one ``SlotLimiter`` keeps them together at ``size`` requests in flight (issue 5
item 2) while the node switches between Redis and in-process scheduling.

Not an ``asyncio.Semaphore``: on Python 3.8 a semaphore built outside a running loop is
bound to the wrong loop, and the in-process scheduler needs a synchronous ``try_acquire``
plus a callback when a slot frees.
"""
import asyncio
from collections import deque
from typing import Callable


class SlotLimiter:
    """At most ``size`` holders at once; async waiters are served first, then listeners.

    Args:
        size: number of slots (Ollama's ``OLLAMA_NUM_PARALLEL``), >= 1.

    Raises:
        ValueError: ``size`` < 1.
    """

    def __init__(self, size: int):
        if size < 1:
            raise ValueError('size must be >= 1, got %r' % size)
        self.size = size
        self._used = 0
        self._waiters = deque()  # type: Deque[asyncio.Future]
        self._listeners = []  # type: List[Callable[[], None]]

    def in_use(self) -> int:
        """Slots held now."""
        return self._used

    def try_acquire(self) -> bool:
        """Take a slot if one is free and nobody is waiting for one; never blocks."""
        if self._used >= self.size or any(not w.done() for w in self._waiters):
            return False
        self._used += 1
        return True

    async def acquire(self) -> None:
        """Wait for a slot and take it (FIFO among waiters); cancellation-safe."""
        if self.try_acquire():
            return
        future = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        try:
            await future  # release() hands its slot over by completing the future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # the slot was handed to us just as we were cancelled
            raise
        finally:
            if future in self._waiters:
                self._waiters.remove(future)

    def release(self) -> None:
        """Give a slot back: to the first async waiter, else to the listeners."""
        while self._waiters:
            future = self._waiters.popleft()
            if not future.done():
                future.set_result(None)  # ownership passes on; _used is unchanged
                return
        self._used = max(self._used - 1, 0)
        for listener in list(self._listeners):
            listener()

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` (synchronously) whenever a slot becomes free."""
        self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[], None]) -> None:
        """Undo ``add_listener``."""
        if callback in self._listeners:
            self._listeners.remove(callback)
