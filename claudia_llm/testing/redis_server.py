"""A real ``redis-server`` on a free loopback port, for tests, benchmarks and the demo."""
import shutil
import signal
import socket
import subprocess
import time


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class RedisServer:
    """A real ``redis-server`` on a loopback port, without persistence.

    ``stop()`` and ``start()`` may be called again to simulate an outage; the port and
    ``url`` stay the same.
    """

    def __init__(self, binary: str, workdir: str, port: int, ready_timeout_s: float = 10.0):
        self.binary = binary
        self.workdir = workdir
        self.port = port
        self.url = 'redis://127.0.0.1:%d/0' % port
        self.ready_timeout_s = ready_timeout_s
        self.process = None

    def start(self) -> None:
        """Start the server and wait until it accepts connections.

        Raises:
            RuntimeError: it exited or did not accept connections within the timeout.
        """
        if self.process is not None and self.process.poll() is None:
            return
        self.process = subprocess.Popen(
            [self.binary, '--port', str(self.port), '--bind', '127.0.0.1', '--save', '',
             '--appendonly', 'no', '--dir', self.workdir, '--loglevel', 'warning'],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError('redis-server exited with %s: %s' % (
                    self.process.returncode, self.process.stderr.read().decode(errors='replace')))
            if self._answers_ping():
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError('redis-server on port %d not ready after %.0f s'
                           % (self.port, self.ready_timeout_s))

    def pause(self) -> None:
        """SIGSTOP the server: it keeps its port and accepts TCP, but answers nothing."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT a paused server; it answers the commands queued meanwhile."""
        self.process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL the server (no shutdown, data gone: it runs without persistence)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5.0)
        self.stop()

    def stop(self) -> None:
        """Terminate the server (SIGTERM, then SIGKILL after 5 s) and wait for it."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)  # a paused server never sees SIGTERM
            self.process.terminate()
            try:
                self.process.wait(5.0)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5.0)
        self.process.stderr.close()
        self.process = None

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection(('127.0.0.1', self.port), timeout=0.2) as sock:
                sock.sendall(b'PING\r\n')
                return sock.recv(16).startswith(b'+PONG')
        except OSError:
            return False


def start_redis(workdir: str) -> RedisServer:
    """Start Debian's ``redis-server`` on a free port in ``workdir`` and return it.

    Raises:
        RuntimeError: ``redis-server`` is not installed or did not start.
    """
    binary = shutil.which('redis-server')
    if binary is None:
        raise RuntimeError('redis-server not found on PATH (apt-get install redis-server)')
    server = RedisServer(binary, workdir, free_port())
    server.start()
    return server
