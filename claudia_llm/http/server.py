"""uvicorn serving an ASGI app on a thread of its own (the ROS node keeps the main thread)."""
import threading
import time

import uvicorn

START_TIMEOUT_S = 10.0


class ServerThread:
    """``uvicorn.Server`` on a daemon thread; ``start()`` returns once it listens.

    Args:
        app: the ASGI app.
        host: address to bind.
        port: TCP port.
    """

    def __init__(self, app, host: str, port: int):
        self.host, self.port = host, port
        self.server = uvicorn.Server(uvicorn.Config(app, host=host, port=port,
                                                    log_level='warning', access_log=False,
                                                    lifespan='on'))
        self._thread = threading.Thread(target=self._serve, name='http-bridge-server',
                                        daemon=True)

    def _serve(self) -> None:
        try:
            self.server.run()
        except SystemExit:  # uvicorn exits when it cannot bind; start() reports it
            pass

    def start(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Start serving and wait until the socket listens.

        Raises:
            OSError: the server did not listen within ``timeout_s`` (port in use, bad address).
        """
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise OSError('http_bridge could not listen on %s:%d (see the log above)'
                              % (self.host, self.port))
            time.sleep(0.02)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Ask uvicorn to finish (open streams are closed) and join its thread."""
        self.server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout_s)
