"""Run an asyncio server object on its own thread and event loop (tests, benches).

A subclass provides ``astart() -> url`` and ``astop()`` for the running loop; this mixin
adds the blocking ``start()``/``stop()`` pair and both context-manager forms.
"""
import asyncio
import threading
from typing import List, Optional


class LoopThreadServer:
    """Mixin: ``start()`` runs ``astart()`` on a daemon thread's loop, ``stop()`` ends it."""

    _loop: Optional[asyncio.AbstractEventLoop] = None
    _thread: Optional[threading.Thread] = None
    thread_name = 'test-server'

    async def astart(self) -> str:  # pragma: no cover - provided by the server
        """Start serving on the loop; return the base URL (the server implements it)."""
        raise NotImplementedError

    async def astop(self) -> None:  # pragma: no cover - provided by the server
        """Stop serving on the loop (the server implements it)."""
        raise NotImplementedError

    async def __aenter__(self):
        await self.astart()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.astop()

    def start(self, timeout_s: float = 10.0) -> str:
        """Start in a daemon thread with its own event loop; return the base URL.

        Raises:
            TimeoutError: not started within ``timeout_s`` seconds.
            Exception: whatever ``astart()`` raised (e.g. OSError for a port in use).
        """
        started = threading.Event()
        failure: List[BaseException] = []
        url: List[str] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            try:
                url.append(loop.run_until_complete(self.astart()))
            except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
                failure.append(exc)
                started.set()
                return
            started.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name=self.thread_name, daemon=True)
        self._thread.start()
        if not started.wait(timeout_s):
            raise TimeoutError('test server did not start within %.1f s' % timeout_s)
        if failure:
            raise failure[0]
        return url[0]

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop a server started with ``start()`` (no-op otherwise)."""
        if self._thread is None:
            return
        loop = self._loop
        asyncio.run_coroutine_threadsafe(self.astop(), loop).result(timeout_s)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(timeout_s)
        self._thread = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
