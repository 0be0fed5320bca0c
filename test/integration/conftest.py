"""Shared fixtures of the integration tests: a ROS domain per run, a real redis-server.

Fixtures here are generic; add new ones below, keep existing ones' contracts.
"""
import os
import shutil
import subprocess

import pytest
from backends import BACKENDS

from claudia_llm.testing.redis_server import RedisServer, free_port
from claudia_llm.testing.ros_domain import use_private_domain

# A ROS domain of our own per test run (never the shell's, which may be a robot's: these
# tests publish utterances and Go2 sport requests), so parallel runs do not see each
# other's topics either; CLAUDIA_DOMAIN_ID names one. Set before any test imports rclpy.
use_private_domain()
# Generated messages check field types when this is '1' (read when a message module is
# first imported): a wrong type then fails the test instead of passing silently.
os.environ.setdefault('ROS_PYTHON_CHECK_FIELDS', '1')


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


@pytest.fixture(scope='module', params=BACKENDS)
def llm_backend(request):
    """'ollama' or 'openai': an LLM-path test taking this runs once per ``llm.backend``,
    against the same test server (``backends.py`` builds clients and node parameters)."""
    return request.param


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
