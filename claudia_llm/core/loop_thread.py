"""An asyncio event loop on its own thread, for ROS callbacks that must never block.

rclpy callbacks hand coroutines to ``LoopThread.submit`` and return at once; the loop
runs the pipeline (network I/O, caches, LLM) concurrently.
"""
import asyncio
import concurrent.futures
import threading
from typing import Any, Coroutine, Optional


class LoopThread:
    """Owns one event loop running in a daemon thread named ``name``."""

    def __init__(self, name: str = 'claudia-loop'):
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def submit(self, coro: Coroutine) -> 'concurrent.futures.Future':
        """Schedule ``coro`` on the loop from any thread; returns a concurrent Future."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine, timeout_s: Optional[float] = None) -> Any:
        """Run ``coro`` on the loop and wait for its result (not from the loop thread).

        Raises:
            concurrent.futures.TimeoutError: not done within ``timeout_s`` seconds.
        """
        return self.submit(coro).result(timeout_s)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Cancel remaining tasks, stop the loop and join the thread (idempotent)."""
        if not self.loop.is_running():
            return

        async def _cancel_all():
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            self.submit(_cancel_all()).result(timeout_s)
        except Exception:  # noqa: BLE001 - shutting down: best effort
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout_s)
        if not self._thread.is_alive():
            self.loop.close()
