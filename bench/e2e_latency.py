"""End-to-end latency over the topic: utterance published -> response record received.

Starts a private redis-server, the Ollama-protocol test server (``--service-time-s``
models the Orin's LLM time) and llm_node in this process, then times each tier over
real DDS, side by side in one run, and prints a table (p50/p99 of ``latency_ms.total``
as the node measured it, and of the round trip as the client saw it).

    .venv/bin/python bench/e2e_latency.py [--repeats 30] [--service-time-s 1.5]
"""
import argparse
import shutil
import sys
import tempfile
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
PAIRS = ROOT / 'test' / 'data' / 'semantic_pairs.tsv'


def first_time_texts():
    """Texts of our labelled pair set, each embedded form once: canonical sides first.

    The node has never seen any of them, so a semantic hit among them is a hit for new
    wording (its vector cannot come from the node's vector LRU).
    """
    import csv

    from claudia_llm.core.cache.semantic_text import embedding_text
    with PAIRS.open(encoding='utf-8') as handle:
        rows = list(csv.DictReader(handle, delimiter='\t'))
    texts, forms = [], set()
    for text in [r['b'] for r in rows] + [r['a'] for r in rows] + SEMANTIC_CANDIDATES:
        form = embedding_text(text)
        if form not in forms:
            forms.add(form)
            texts.append(text)
    return texts


def pct(values, q):
    return float(np.percentile(values, q)) if values else float('nan')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=30)
    parser.add_argument('--service-time-s', type=float, default=1.5)
    parser.add_argument('--llm-samples', type=int, default=5)
    args = parser.parse_args()
    from claudia_llm.testing.ros_domain import use_private_domain
    use_private_domain()  # never the shell's (a robot's) domain

    import rclpy

    from claudia_llm.ros.client import UtteranceClient
    from claudia_llm.ros.compat import try_shutdown
    from claudia_llm.ros.llm_node import LlmNode
    from claudia_llm.ros.spinning import NodeThreads
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
    spinning = NodeThreads([node, client])
    client.wait_for_node(10.0)
    time.sleep(3.0)  # let the warm-up request and start-up work finish
    rows, stages = {}, {}

    def first_pass():
        """Ask every never-seen text once (LLM instant); keep the semantic hits' latency."""
        service_s, ollama.service_time_s = ollama.service_time_s, 0.0
        node_ms, trip_ms, semantic, laps = [], [], [], []
        try:
            for text in first_time_texts():
                start = time.perf_counter()
                record = client.ask(text, 30.0)
                trip = (time.perf_counter() - start) * 1000.0
                time.sleep(0.05)
                if record is not None and record['source'] == 'semantic':
                    node_ms.append(record['latency_ms']['total'])
                    trip_ms.append(trip)
                    semantic.append(text)
                    laps.append(record['latency_ms'])
        finally:
            ollama.service_time_s = service_s
        rows['semantic, first hearing'] = (node_ms, trip_ms, {'semantic'}, 'semantic')
        stages['semantic, first hearing'] = laps
        return semantic

    def measure(label, texts, repeats, expect, before=None):
        node_ms, trip_ms, sources, laps = [], [], set(), []
        for i in range(repeats):
            text = texts[i % len(texts)]
            if before is not None:
                before()
            start = time.perf_counter()
            record = client.ask(text, 30.0)
            trip_ms.append((time.perf_counter() - start) * 1000.0)
            time.sleep(0.05)  # utterances come one at a time, not back to back
            node_ms.append(record['latency_ms']['total'])
            sources.add(record['source'])
            laps.append(record['latency_ms'])
        rows[label] = (node_ms, trip_ms, sources, expect)
        stages[label] = laps

    try:
        semantic = first_pass()
        measure('emergency', EMERGENCY, args.repeats, 'emergency')
        measure('exact (lexicon)', EXACT, args.repeats, 'exact')
        if semantic:
            # Semantic hits that must embed: the node's vector LRU is emptied before each.
            measure('semantic, new wording', semantic, args.repeats, 'semantic',
                    before=node.engine.semantic.forget_vectors)
            measure('semantic, repeated wording', semantic, args.repeats, 'semantic')
        novel = ['tell me something new number %d' % i for i in range(args.llm_samples)]
        measure('llm (miss)', novel, args.llm_samples, 'llm')
        measure('exact (repeat of llm)', novel, args.repeats, 'exact')
    finally:
        spinning.shutdown(5.0)
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
    print('\nNode stages of semantic hits, p50 ms')
    for label, laps in stages.items():
        if label.startswith('semantic') and laps:
            names = [n for n in laps[0] if n != 'total']
            print('  %-36s %s' % (label, ', '.join(
                '%s %.1f' % (n, pct([lap.get(n, 0.0) for lap in laps], 50)) for n in names)))
    if not semantic:
        print('(no semantic hits among the candidates at the shipped threshold)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
