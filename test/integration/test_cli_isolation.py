"""``claudia-llm`` as a user runs it: subprocesses over real DDS, a real redis-server and the
Ollama-protocol test server.

The safety property: nodes that ``eval`` (without --attach) and ``say --local`` start in
their process are isolated. Another node on the normal topics (here a plain subscriber in
this test process, standing for the robot's llm_node) sees none of their utterances,
actions or records, and they write no Redis key outside their private prefix.
"""
import json
import os
import subprocess
import sys
import threading

import pytest
import rclpy
import redis
from backends import node_overrides
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from std_msgs.msg import String

from claudia_llm.ros import qos

NORMAL_TOPICS = ('/claudia/utterance', '/claudia/action', '/claudia/reply', '/claudia/response')
WARNING = '-p is ignored with --attach (the running nodes keep their parameters)'


class Listener:
    """A plain rclpy node on the normal topics and /diagnostics, in its own context."""

    def __init__(self):
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = Node('robot_stand_in', context=self.context)
        self.seen = {topic: [] for topic in NORMAL_TOPICS + ('/diagnostics',)}
        for topic in NORMAL_TOPICS:
            self.node.create_subscription(String, topic, self._keep(topic), qos.reliable(50))
        self.node.create_subscription(DiagnosticArray, '/diagnostics',
                                      self._keep('/diagnostics'), qos.diagnostics())
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def _keep(self, topic):
        return lambda msg: self.seen[topic].append(msg)

    def clear(self) -> None:
        for messages in self.seen.values():
            messages.clear()

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=2.0)
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)
        self.thread.join(2.0)


class KeyWatcher:
    """Polls every Redis key name while a command runs."""

    def __init__(self, url: str):
        self.client = redis.Redis.from_url(url, decode_responses=True)
        self.keys = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(0.05):
            self.keys.update(self.client.keys('*'))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5.0)
        self.keys.update(self.client.keys('*'))


@pytest.fixture(scope='module')
def listener():
    lis = Listener()
    yield lis
    lis.close()


@pytest.fixture
def ollama(ollama_server_factory, llm_backend):
    """The LLM row's answer comes after DDS discovery surely finished (1.5 s): had the
    records gone to the normal topics, the stand-in would have matched them by then.
    ``backend`` says which ``llm.backend`` the CLI is given (both, one per test run)."""
    server = ollama_server_factory(script={'rules': [{
        'regex': 'hum a little tune', 'delay_s': 1.5,
        'content': {'reply': 'La la la!', 'actions': [{'name': 'Hello'}], 'kind': 'command'}}]})
    server.backend = llm_backend
    return server


@pytest.fixture
def cases(tmp_path):
    """Two rows: one the LLM answers (slowly), then a lexicon phrasing (exact tier)."""
    path = tmp_path / 'cases.tsv'
    path.write_text('utterance\texpected\tlanguage\n'
                    'please hum a little tune for the garden\tHello\ten\n'
                    'sit down\tSit\ten\n', encoding='utf-8')
    return path


def start_cli(*args):
    return subprocess.Popen([sys.executable, '-m', 'claudia_llm.cli'] + list(args),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ))


def node_params(redis_url, ollama_url, backend='ollama'):
    llm = [arg for name, value in node_overrides(backend, ollama_url).items()
           for arg in ('-p', '%s:=%s' % (name, value))]
    return ['-p', 'redis.url:=' + redis_url, *llm,
            '-p', 'cache.semantic_enabled:=false', '-p', 'ollama.warmup:=false',
            '-p', 'diagnostics.period_s:=0.2']  # /diagnostics 5 times a second


def chat_texts(ollama_server):
    return [e['messages'][-1]['content'] for e in ollama_server.requests()
            if e.get('messages')]


def test_in_process_eval_is_invisible_to_a_node_on_the_normal_topics(
        listener, cases, tmp_path, redis_server, ollama):
    listener.clear()
    watcher = KeyWatcher(redis_server.url)
    out = tmp_path / 'out.json'
    proc = start_cli('eval', str(cases), '--json', str(out), '--timeout', '20',
                     *node_params(redis_server.url, ollama.url, ollama.backend))
    stdout, stderr = proc.communicate(timeout=240)
    watcher.stop()
    assert proc.returncode == 0, stdout + stderr

    rows = json.loads(out.read_text(encoding='utf-8'))['rows']
    assert [(r['source'], r['intent']) for r in rows] == [
        ('llm', ['Hello']), ('exact', ['Sit'])], stdout + stderr
    # Nothing reached the normal topics nor /diagnostics: another llm_node would have
    # answered (and moved the dog), a diagnostics aggregator would have mixed the stats.
    assert {topic: len(msgs) for topic, msgs in listener.seen.items()} == {
        topic: 0 for topic in listener.seen}
    private = 'claudia_llm_local_%d:' % proc.pid
    assert watcher.keys, 'the local nodes never wrote to Redis'
    assert all(key.startswith(private) for key in watcher.keys), sorted(
        k for k in watcher.keys if not k.startswith(private))[:10]
    assert any(':llm:' in key for key in watcher.keys), 'the LLM row never used the queue'
    assert redis.Redis.from_url(redis_server.url).keys('*') == [], 'private keys left behind'
    assert any('hum a little tune' in text for text in chat_texts(ollama))


def test_say_local_prints_its_record_and_publishes_nothing_outside(
        listener, redis_server, ollama):
    listener.clear()
    proc = start_cli('say', '--local', 'please hum a little tune', '--timeout', '20',
                     '-p', 'robot.publish_sport_request:=true',
                     *node_params(redis_server.url, ollama.url, ollama.backend))
    stdout, stderr = proc.communicate(timeout=240)
    assert proc.returncode == 0, stdout + stderr
    record = json.loads(stdout)
    assert (record['source'], record['intent']) == ('llm', ['Hello'])
    assert 'claudia-llm: warning: -p robot.publish_sport_request is ignored' in stderr
    assert {topic: len(msgs) for topic, msgs in listener.seen.items()} == {
        topic: 0 for topic in listener.seen}


def test_eval_attach_uses_the_normal_topics_and_warns_that_p_is_ignored(
        listener, cases):
    """The control: the stand-in does receive what an attached command publishes.

    (The CLI waits until some node subscribes to /claudia/utterance: here the stand-in.)
    """
    listener.clear()
    proc = start_cli('eval', str(cases), '--attach', '--timeout', '1',
                     '-p', 'ollama.host:=http://127.0.0.1:9')
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 1, stdout + stderr  # no llm_node here: records are missing
    assert [line for line in stderr.splitlines() if WARNING in line] == [
        'claudia-llm: warning: ' + WARNING]
    texts = [json.loads(m.data)['text'] for m in listener.seen['/claudia/utterance']]
    assert texts == ['please hum a little tune for the garden', 'sit down']


def test_run_with_http_serves_the_api_and_stops_on_ctrl_c(redis_server, ollama_server):
    """``claudia-llm run --http``: the three nodes in one process; a command posted over
    HTTP comes back as its record, and Ctrl-C (SIGINT) ends the process with code 0."""
    import signal
    import time

    import httpx

    from claudia_llm.testing.redis_server import free_port
    port = free_port()
    proc = start_cli('run', '--http', '-p', 'http.port:=%d' % port,
                     *node_params(redis_server.url, ollama_server.url))
    url = 'http://127.0.0.1:%d' % port
    try:
        give_up = time.monotonic() + 120.0  # lexicon, embedder, DDS discovery on a busy CI
        record = None
        while record is None and proc.poll() is None and time.monotonic() < give_up:
            try:
                reply = httpx.post(url + '/v1/utterances', json={'text': 'sit down'},
                                   timeout=30.0)
            except httpx.TransportError:
                time.sleep(0.5)  # not serving yet
                continue
            if reply.status_code == 503:  # http_bridge up, llm_node not matched yet
                time.sleep(0.5)
                continue
            record = reply.json()
        assert record is not None, 'run --http never answered (exit code %s)' % proc.poll()
        assert [a['name'] for a in record['actions']] == ['Sit'], record
    finally:
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stdout + stderr
    assert 'llm_node, diagnostics_node and http_bridge running' in stdout
