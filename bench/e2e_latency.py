"""End-to-end latency over the topic: utterance published -> response record received.

Starts a private redis-server, the Ollama-protocol test server (``--service-time-s``
models the Orin's LLM time) and llm_node in this process, then times each tier over
real DDS, side by side in one run, and prints a table (p50/p99 of ``latency_ms.total``
as the node measured it, and of the round trip as the client saw it).

    .venv/bin/python bench/e2e_latency.py [--repeats 30] [--service-time-s 1.5]
"""
import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Phrases per tier. Lexicon phrasings we wrote, and paraphrases the lexicon lacks.
EXACT = ['座って', 'stand up', '伏せて', '跳舞']
SEMANTIC_CANDIDATES = ['座ってくれないかな', 'could you sit for me', '请你坐下来吧',
                       '踊りを見せて', 'show me a dance', 'give me a heart', 'ちょっと伸びをして']
EMERGENCY = ['止まれ！', 'STOP', '停下']


def pct(values, q):
    return float(np.percentile(values, q)) if values else float('nan')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=30)
    parser.add_argument('--service-time-s', type=float, default=1.5)
    parser.add_argument('--llm-samples', type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault('ROS_DOMAIN_ID', str(os.getpid() % 100 + 1))

    import rclpy
    from rclpy.executors import MultiThreadedExecutor

    from claudia_llm.ros.client import UtteranceClient
    from claudia_llm.ros.compat import try_shutdown
    from claudia_llm.ros.llm_node import LlmNode
    from claudia_llm.testing.ollama_server import OllamaTestServer
    from claudia_llm.testing.redis_server import start_redis

    workdir = tempfile.mkdtemp()
    redis = start_redis(workdir)
    ollama = OllamaTestServer(slots=1, service_time_s=args.service_time_s)
    ollama.start()
    rclpy.init()
    node = LlmNode(parameter_overrides={'redis.url': redis.url, 'ollama.host': ollama.url,
                                        'safety.cooldown_s': 0.0})
    client = UtteranceClient()
    executor = MultiThreadedExecutor(num_threads=2)
    executor.add_node(node)
    executor.add_node(client)
    threading.Thread(target=executor.spin, daemon=True).start()
    client.wait_for_node(10.0)
    time.sleep(3.0)  # let the warm-up request and start-up work finish
    rows = {}

    def measure(label, texts, repeats, expect):
        node_ms, trip_ms, sources = [], [], set()
        for i in range(repeats):
            text = texts[i % len(texts)]
            start = time.perf_counter()
            record = client.ask(text, 30.0)
            trip_ms.append((time.perf_counter() - start) * 1000.0)
            time.sleep(0.05)  # utterances come one at a time, not back to back
            node_ms.append(record['latency_ms']['total'])
            sources.add(record['source'])
        rows[label] = (node_ms, trip_ms, sources, expect)

    try:
        semantic = [t for t in SEMANTIC_CANDIDATES if client.ask(t)['source'] == 'semantic']
        measure('emergency', EMERGENCY, args.repeats, 'emergency')
        measure('exact (lexicon)', EXACT, args.repeats, 'exact')
        if semantic:
            measure('semantic', semantic, args.repeats, 'semantic')
        novel = ['tell me something new number %d' % i for i in range(args.llm_samples)]
        measure('llm (miss)', novel, args.llm_samples, 'llm')
        measure('exact (repeat of llm)', novel, args.repeats, 'exact')
    finally:
        executor.shutdown(timeout_sec=5)
        client.destroy_node()
        node.destroy_node()
        try_shutdown()
        ollama.stop()
        redis.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    print('\nEnd-to-end latency over DDS (LLM service time %.1f s, %d repeats)'
          % (args.service_time_s, args.repeats))
    print('| tier | n | node p50 ms | node p99 ms | round trip p50 ms | round trip p99 ms '
          '| sources seen |')
    print('|---|---|---|---|---|---|---|')
    for label, (node_ms, trip_ms, sources, _expect) in rows.items():
        print('| %s | %d | %.1f | %.1f | %.1f | %.1f | %s |' % (
            label, len(node_ms), pct(node_ms, 50), pct(node_ms, 99), pct(trip_ms, 50),
            pct(trip_ms, 99), ','.join(sorted(sources))))
    if not semantic:
        print('(no semantic hits among the candidates at the shipped threshold)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
