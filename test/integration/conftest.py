"""Shared fixtures of the integration tests: a ROS domain per run, a real redis-server.

Fixtures here are generic; add new ones below, keep existing ones' contracts.
"""
import os
import shutil
import socket
import subprocess
import time

import pytest

# A ROS domain of our own per test run, so parallel runs (other checkouts, CI jobs) do not
# see each other's topics. Set before any test imports rclpy; 1..100 keeps DDS ports valid.
os.environ.setdefault('ROS_DOMAIN_ID', str(os.getpid() % 100 + 1))
# Generated messages check field types when this is '1' (read when a message module is
# first imported): a wrong type then fails the test instead of passing silently.
os.environ.setdefault('ROS_PYTHON_CHECK_FIELDS', '1')


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

    def stop(self) -> None:
        """Terminate the server (SIGTERM, then SIGKILL after 5 s) and wait for it."""
        if self.process is None:
            return
        if self.process.poll() is None:
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


@pytest.fixture
def redis_server(tmp_path):
    """A started ``RedisServer`` (``.url``, ``.port``, ``.stop()``, ``.start()``).

    Fails (does not skip) when ``redis-server`` is not installed: in CI a missing
    service must fail the run.
    """
    binary = shutil.which('redis-server')
    if binary is None:
        pytest.fail('redis-server not found on PATH (apt-get install redis-server)')
    server = RedisServer(binary, str(tmp_path), free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def closed_port() -> int:
    """A loopback TCP port with no listener: connections to it are refused."""
    return free_port()


@pytest.fixture
def ollama_server_factory():
    """Start ``OllamaTestServer(**kwargs)`` instances in their own threads; all are stopped
    at the end of the test. Returns the started server (``.url``, ``.requests()``,
    ``.stats()``, ``.set_script()``, ``.reset()``, ``.stop()``)."""
    from claudia_llm.testing.ollama_server import OllamaTestServer
    servers = []

    def start(**kwargs):
        server = OllamaTestServer(**kwargs)
        server.start()
        servers.append(server)
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def ollama_server(ollama_server_factory):
    """An Ollama-protocol test server: 1 slot, no service time, model 'qwen2.5:7b', no
    script rules (every chat gets a schema-conforming generic answer)."""
    return ollama_server_factory()


@pytest.fixture(scope='session')
def unitree_msgs():
    """The test copies of the Unitree messages, built into this interpreter's venv by
    ``scripts/build_unitree_test_msgs.sh`` (about 30 s the first time, ~0.3 s after).

    Returns ``(Request, SportModeState, LowState)``. Fails (does not skip) when the build fails.
    """
    import importlib
    import sys
    from pathlib import Path
    script = Path(__file__).resolve().parents[2] / 'scripts' / 'build_unitree_test_msgs.sh'
    done = subprocess.run(['bash', str(script), sys.prefix], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=280)
    if done.returncode != 0:
        pytest.fail('building the Unitree test messages failed:\n' + done.stdout[-4000:])
    importlib.invalidate_caches()
    from unitree_api.msg import Request
    from unitree_go.msg import LowState, SportModeState
    return Request, SportModeState, LowState


@pytest.fixture(scope='module')
def redis_module(tmp_path_factory):
    """A ``RedisServer`` shared by one test module (same contract as ``redis_server``)."""
    binary = shutil.which('redis-server')
    if binary is None:
        pytest.fail('redis-server not found on PATH (apt-get install redis-server)')
    server = RedisServer(binary, str(tmp_path_factory.mktemp('redis')), free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()
