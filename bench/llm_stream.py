"""Streamed vs whole LLM answers over the topics: first action, first reply piece, record.

Starts a private redis-server, the Ollama-protocol test server as its own process at
Orin-like rates (prefill 400 tokens/s of the new prompt tokens, decode 25 tokens/s, one
chunk per Qwen2.5 token; ``ollama_timing``) and llm_node as a separate process, twice in
one run: ``llm.stream_actions: false`` (wait for the whole answer, the behaviour before
issue 10) and ``true``. From this process it publishes novel commands (not in the lexicon,
each with a round number so none is a cache hit; the semantic tier is off for the same
reason) one at a time and times, from publishing the utterance, the arrival of the first
``/claudia/action``, the first ``/claudia/reply_partial`` piece and the
``/claudia/response`` record. Prints a table (p50, p95 in ms) and the issue's targets.

    .venv/bin/python bench/llm_stream.py [--rounds 3] [--backend redis|memory]
"""
import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / 'bench'))

from harness import pct  # noqa: E402
from processes import NodeProcess, OllamaProcess, tail  # noqa: E402

from claudia_llm.testing.redis_server import RedisServer, free_port  # noqa: E402

# Novel commands and the answer a Qwen2.5-7B would give (checked: none is answered by the
# lexicon or the command matcher).
COMMANDS = [
    ('show our guests how well-mannered you are', ['Hello'],
     'Hello, everyone! It is so nice to meet you all.'),
    ('お客さんに良いところを見せてあげて', ['Hello', 'Stretch'],
     'いらっしゃいませ！今日はよろしくお願いします。'),
    ('给大家表演一个小节目吧', ['Dance1'], '好的，我来给大家跳一段舞！希望你们喜欢。'),
    ('you look sleepy, take a little break', ['Sit'],
     'Okay, I will rest for a bit. Thanks for caring!'),
    ('朝の体操をしよう', ['Stretch'], 'はい、一緒に体操しましょう！まずは伸びからです。'),
    ('让客人看看你有多可爱', ['Heart'], '好呀，送大家一个爱心！谢谢你们来看我。'),
    ('greet the new neighbours warmly', ['Hello'],
     'Hi neighbours, welcome to the street! I am Claudia.'),
    ('今日はがんばったね、ゆっくりしていいよ', ['Sit'], 'ありがとう！少し座って休みますね。'),
]
TOPICS = ('utterance', 'reply', 'reply_partial', 'action', 'response', 'execution')


def script() -> Dict[str, Any]:
    return {'rules': [{'regex': '^' + re.escape(text), 'content': {
        'actions': [{'name': n} for n in names], 'reply': reply, 'kind': 'command'}}
        for text, names, reply in COMMANDS]}


class Probe:
    """Publishes utterances; notes when each request's action, pieces and record arrive."""

    def __init__(self, namespace: str):
        from rclpy.executors import MultiThreadedExecutor
        from rclpy.node import Node
        from std_msgs.msg import String

        from claudia_llm.ros import qos
        self.String = String
        self.node = Node('llm_stream_probe')
        self.pub = self.node.create_publisher(String, namespace + '/claudia/utterance',
                                              qos.reliable(10))
        self.lock = threading.Lock()
        self.seen = {}  # type: Dict[str, Dict[str, float]]
        for kind, topic, depth in (('action', 'action', 10), ('piece', 'reply_partial', 10),
                                   ('record', 'response', 50)):
            self.node.create_subscription(
                String, '%s/claudia/%s' % (namespace, topic),
                lambda msg, kind=kind: self._arrive(kind, msg), qos.reliable(depth))
        self.executor = MultiThreadedExecutor(num_threads=2)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def _arrive(self, kind: str, msg) -> None:
        now = time.monotonic()
        data = json.loads(msg.data)
        with self.lock:
            times = self.seen.setdefault(str(data.get('request_id')), {})
            times.setdefault(kind, now)  # the first of each kind
            if kind == 'record':
                times['source'] = data.get('source')
                times['error'] = (data.get('error') or {}).get('code')

    def subscribers(self) -> int:
        return self.pub.get_subscription_count()

    def ask(self, text: str, request_id: str, timeout_s: float = 30.0) -> Dict[str, Any]:
        """Publish ``text``; return ms from publishing to each arrival, and the source."""
        sent = time.monotonic()
        self.pub.publish(self.String(data=json.dumps({'text': text, 'id': request_id},
                                                     ensure_ascii=False)))
        while time.monotonic() - sent < timeout_s:
            with self.lock:
                times = dict(self.seen.get(request_id, {}))
            if 'record' in times:
                time.sleep(0.05)  # a late piece of another topic (DDS orders per topic)
                with self.lock:
                    times = dict(self.seen.get(request_id, {}))
                return {k: ((v - sent) * 1000.0 if isinstance(v, float) else v)
                        for k, v in times.items()}
            time.sleep(0.002)
        raise RuntimeError('no record for %s within %.0f s' % (request_id, timeout_s))

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()


def node_params(namespace: str, redis_url: str, ollama_url: str, stream: bool,
                backend: str) -> Dict[str, Any]:
    params = {'topics.%s' % t: '%s/claudia/%s' % (namespace, t) for t in TOPICS}
    params.update({'redis.url': redis_url, 'ollama.host': ollama_url,
                   'redis.key_prefix': '%s_%d' % (namespace.strip('/'), stream),
                   'llm.stream_actions': stream,
                   'scheduler.backend': backend, 'cache.semantic_enabled': False,
                   'safety.cooldown_s': 0.0, 'ollama.timeout_s': 30.0,
                   'scheduler.deadline_s': 30.0})
    return params


def measure(probe: Probe, node: NodeProcess, label: str, rounds: int) -> List[Dict[str, Any]]:
    start = time.monotonic()
    while not (node.log_lines('ready: listening') and probe.subscribers() > 0):
        if not node.alive() or time.monotonic() - start > 120.0:
            raise RuntimeError('llm_node did not start; log:\n' + tail(node.log_path))
        time.sleep(0.1)
    probe.ask('say something nice to warm up (%s)' % label, 'warm-%s' % label, 60.0)
    samples = []
    for round_no in range(rounds):
        for index, (text, _names, _reply) in enumerate(COMMANDS):
            rid = '%s-%d-%d' % (label, round_no, index)
            samples.append(probe.ask('%s #%d' % (text, round_no + 1), rid))
            time.sleep(0.2)  # one utterance at a time, as people talk
    return samples


def row(label: str, samples: List[Dict[str, Any]]) -> str:
    cols = []
    for kind in ('action', 'piece', 'record'):
        values = [s[kind] for s in samples if kind in s]
        cols.append('%.0f / %.0f' % (pct(values, 50), pct(values, 95)))
    first = pct([s['action'] for s in samples if 'action' in s], 50)
    return '| %s | %d | %s | %.2f |' % (label, len(samples), ' | '.join(cols),
                                       first / pct([s['record'] for s in samples], 50))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rounds', type=int, default=3, help='times each command is said')
    parser.add_argument('--backend', choices=('redis', 'memory'), default='redis',
                        help='scheduler.backend of the node (redis: in-node worker)')
    parser.add_argument('--prompt-tps', type=float, default=400.0)
    parser.add_argument('--eval-tps', type=float, default=25.0)
    args = parser.parse_args()
    from claudia_llm.testing.ros_domain import use_private_domain
    use_private_domain()  # never the shell's (a robot's) domain
    import rclpy

    from claudia_llm.ros.compat import try_shutdown
    workdir = tempfile.mkdtemp(prefix='claudia-llm-stream-')
    namespace = '/bench_stream_%d' % os.getpid()
    redis = RedisServer(shutil.which('redis-server'), workdir, free_port())
    ollama = OllamaProcess(log_path=os.path.join(workdir, 'ollama.log'), extra_args=[
        '--timing', 'rates', '--prompt-tps', str(args.prompt_tps),
        '--eval-tps', str(args.eval_tps)])
    results, probe = {}, None
    try:
        redis.start()
        ollama.start()
        ollama.set_script(script())
        rclpy.init()
        probe = Probe(namespace)
        for label, stream in (('whole answer (stream_actions false)', False),
                              ('streamed (stream_actions true)', True)):
            node = NodeProcess(node_params(namespace, redis.url, ollama.url, stream,
                                           args.backend), workdir,
                               ['/diagnostics:=%s/diagnostics' % namespace],
                               'llm_node_%s' % ('stream' if stream else 'whole'))
            node.start()
            try:
                results[label] = measure(probe, node, 'stream' if stream else 'whole',
                                         args.rounds)
            finally:
                node.stop()
    finally:
        if probe is not None:
            probe.close()
        try_shutdown()
        ollama.stop()
        redis.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    print('\nLLM answers over DDS from a separate process: %d novel commands x %d rounds, '
          'test server at prefill %.0f / decode %.0f tokens/s, scheduler.backend %s'
          % (len(COMMANDS), args.rounds, args.prompt_tps, args.eval_tps, args.backend))
    print('| mode | n | first /claudia/action p50 / p95 ms | first reply piece p50 / p95 ms '
          '| record p50 / p95 ms | action / record (p50) |')
    print('|---|---|---|---|---|---|')
    sources = {s.get('source') for values in results.values() for s in values}
    results = {k: [s for s in v if s.get('source') == 'llm'] for k, v in results.items()}
    for label, samples in results.items():
        print(row(label, samples))
    streamed = results['streamed (stream_actions true)']
    action_p50 = pct([s['action'] for s in streamed], 50)
    record_p50 = pct([s['record'] for s in streamed], 50)
    piece_first = sum(1 for s in streamed if s.get('piece', 1e12) < s['record'])
    print('\nsources seen: %s; errors: %s' % (', '.join(sorted(map(str, sources))), sorted(
        {str(s.get('error')) for values in results.values() for s in values})))
    print('targets (streamed): first action p50 %.0f ms <= 900 ms: %s; <= 0.6 x record p50 '
          '(%.0f ms): %s; first piece before the record: %d of %d' % (
              action_p50, action_p50 <= 900.0, 0.6 * record_p50,
              action_p50 <= 0.6 * record_p50, piece_first, len(streamed)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
