"""The bench's separate processes: llm_node, the Ollama test server, LLM workers.

Each is started with this interpreter and ``PYTHONPATH`` pointing at this checkout; its
output goes to a log file in the bench's work directory.
"""
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Optional

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from claudia_llm.testing.redis_server import free_port  # noqa: E402

PYTHON = sys.executable


def rss_kib(pid: int) -> int:
    """Resident set size of process ``pid`` in KiB (``VmRSS``), 0 when it is gone."""
    try:
        with open('/proc/%d/status' % pid, encoding='ascii') as status:
            for line in status:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class OllamaProcess:
    """``python -m claudia_llm.testing.ollama_server`` on a fixed port; kill and restart it."""

    def __init__(self, service_time_s: float = 0.0, slots: int = 1, log_path: str = '',
                 extra_args: Optional[List[str]] = None):
        self.extra_args = list(extra_args or [])  # e.g. --timing rates --eval-tps 25
        self.port = free_port()
        self.url = 'http://127.0.0.1:%d' % self.port
        self.service_time_s, self.slots = service_time_s, slots
        self.log_path = log_path or os.devnull
        self.process: Optional[subprocess.Popen] = None
        self.script: Any = None

    def start(self, timeout_s: float = 30.0) -> None:
        """Start it and wait for its ``listening`` line; re-applies the last script."""
        log = open(self.log_path, 'ab')
        self.process = subprocess.Popen(
            [PYTHON, '-m', 'claudia_llm.testing.ollama_server', '--port', str(self.port),
             '--slots', str(self.slots), '--service-time-s', str(self.service_time_s)]
            + self.extra_args,
            stdout=subprocess.PIPE, stderr=log, cwd=str(ROOT), env=child_env())
        log.close()
        deadline = time.monotonic() + timeout_s
        line = self.process.stdout.readline().decode()
        if not line.startswith('listening') or time.monotonic() > deadline:
            raise RuntimeError('Ollama test server did not start: %r' % line)
        if self.script is not None:
            self.set_script(self.script)

    def set_script(self, script: Any) -> None:
        """Replace the server's script (see ``claudia_llm.testing.ollama_script``)."""
        self.script = script
        self._post('/_test/script', script)

    def stats(self) -> Dict[str, Any]:
        """The server's ``/_test/stats``."""
        with urllib.request.urlopen(self.url + '/_test/stats', timeout=5.0) as reply:
            return json.loads(reply.read())

    def _post(self, path: str, body: Any) -> None:
        request = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                         method='POST')
        with urllib.request.urlopen(request, timeout=5.0):
            pass

    def kill(self) -> None:
        """SIGKILL (a crash: open answers break mid-stream)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10.0)
        if self.process is not None:
            self.process.stdout.close()
        self.process = None

    def stop(self) -> None:
        """SIGTERM, then wait."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10.0)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if self.process is not None:
            self.process.stdout.close()
        self.process = None


class NodeProcess:
    """``llm_node`` in its own process, configured by a ROS parameters file."""

    def __init__(self, params: Dict[str, Any], workdir: str, remaps: List[str],
                 name: str = 'llm_node'):
        self.params, self.workdir, self.remaps, self.name = params, workdir, remaps, name
        self.log_path = os.path.join(workdir, '%s.log' % name)
        self.process: Optional[subprocess.Popen] = None

    def start(self) -> None:
        """Write the parameters file and start the process (readiness: ``Harness``)."""
        path = os.path.join(self.workdir, '%s.params.yaml' % self.name)
        with open(path, 'w', encoding='utf-8') as out:
            yaml.safe_dump({'/**': {'ros__parameters': nest(self.params)}}, out,
                           allow_unicode=True)
        args = [PYTHON, '-m', 'claudia_llm.ros.llm_node', '--ros-args', '--params-file', path,
                '-r', '__node:=%s' % self.name]
        for rule in self.remaps:
            args += ['-r', rule]
        log = open(self.log_path, 'ab')
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                        cwd=str(ROOT), env=child_env())
        log.close()

    @property
    def pid(self) -> int:
        return self.process.pid if self.process is not None else 0

    def alive(self) -> bool:
        """True while the process runs."""
        return self.process is not None and self.process.poll() is None

    def rss_kib(self) -> int:
        """Its resident set size, KiB."""
        return rss_kib(self.pid) if self.alive() else 0

    def send_signal(self, sig: int) -> None:
        """Send ``sig`` (SIGINT, SIGTERM, SIGKILL, SIGSTOP, ...)."""
        if self.alive():
            self.process.send_signal(sig)

    def stop(self, sig: int = signal.SIGINT, timeout_s: float = 20.0) -> Optional[int]:
        """Send ``sig``, wait up to ``timeout_s`` (then SIGKILL); return the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10.0)
        return self.process.returncode

    def log_lines(self, needle: str) -> List[str]:
        """Lines of its log containing ``needle``."""
        try:
            with open(self.log_path, encoding='utf-8', errors='replace') as log:
                return [line.rstrip() for line in log if needle in line]
        except OSError:
            return []


class WorkerProcess:
    """``claudia-llm worker`` (the Redis-queue LLM worker) in its own process."""

    def __init__(self, redis_url: str, ollama_url: str, key_prefix: str, workdir: str,
                 claim_idle_s: float, name: str):
        self.args = [PYTHON, '-m', 'claudia_llm.cli', 'worker', '--redis-url', redis_url,
                     '--ollama-host', ollama_url, '--key-prefix', key_prefix, '--name', name,
                     '--claim-idle-s', str(claim_idle_s), '--no-warmup']
        self.log_path = os.path.join(workdir, '%s.log' % name)
        self.process: Optional[subprocess.Popen] = None

    def start(self) -> None:
        log = open(self.log_path, 'ab')
        self.process = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT,
                                        cwd=str(ROOT), env=child_env())
        log.close()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(15.0)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5.0)


def nest(flat: Dict[str, Any]) -> Dict[str, Any]:
    nested: Dict[str, Any] = {}
    for name, value in flat.items():
        parts = name.split('.')
        node = nested
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return nested


def child_env() -> Dict[str, str]:
    env = dict(os.environ)
    env['PYTHONPATH'] = str(ROOT) + os.pathsep + env.get('PYTHONPATH', '')
    env['PYTHONUNBUFFERED'] = '1'
    return env


def tail(path: str, lines: int = 30) -> str:
    try:
        with open(path, encoding='utf-8', errors='replace') as log:
            return ''.join(log.readlines()[-lines:])
    except OSError:
        return ''
