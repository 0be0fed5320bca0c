"""Cache-hit latency from a separate process: standalone nodes vs ``claudia-llm run``.

Starts a private redis-server and the Ollama-protocol test server, then, one layout after
the other in the same run, the nodes as a user starts them:

- ``standalone``: ``llm_node`` and ``diagnostics_node`` as two processes (``ros2 launch``);
- ``claudia-llm run``: both nodes in one process (``ros.runner.InProcessNodes``).

This process is the probe: it publishes exact-cache hits (lexicon phrases) over DDS and
times each round trip until the response record arrives. It also reads the node
processes' CPU time (``/proc/<pid>/stat``) while answering and while idle.

    .venv/bin/python bench/inprocess_latency.py [--repeats 200] [--idle-s 5]
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HITS = ['座って', 'stand up', '伏せて', '跳舞']
TICK_S = 1.0 / os.sysconf('SC_CLK_TCK')


def cpu_s(pids):
    """User + system CPU seconds of ``pids`` so far (``/proc/<pid>/stat`` fields 14, 15)."""
    total = 0.0
    for pid in pids:
        with open('/proc/%d/stat' % pid) as stat:
            fields = stat.read().rsplit(')', 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) * TICK_S
    return total


def layouts(config, overrides):
    """``{label: [argv, ...]}``: the processes each layout starts."""
    py = sys.executable
    params = ['--ros-args', '--params-file', config] + [
        a for item in overrides for a in ('-p', item)]
    return {
        'standalone llm_node + diagnostics_node': [
            [py, '-m', 'claudia_llm.ros.llm_node'] + params,
            [py, '-m', 'claudia_llm.ros.diagnostics_node'] + params],
        'claudia-llm run': [
            [py, '-m', 'claudia_llm.cli', 'run', '--config', config] + [
                a for item in overrides for a in ('-p', item)]],
    }


def measure(client, argvs, repeats, idle_s, env):
    """Start ``argvs``, probe them, stop them; return the figures of one layout."""
    procs = [subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for argv in argvs]
    pids = [p.pid for p in procs]
    try:
        if not client.wait_for_node(60.0):
            raise RuntimeError('llm_node of %s never subscribed' % argvs[0])
        for text in HITS:  # the first answers warm the exact cache
            client.ask(text, 60.0)
        time.sleep(3.0)  # let start-up work (warm-up request, first peer check) finish
        idle_before, idle_start = cpu_s(pids), time.monotonic()
        time.sleep(idle_s)
        idle = (cpu_s(pids) - idle_before) / (time.monotonic() - idle_start)
        trips, sources = [], set()
        busy_before = cpu_s(pids)
        for i in range(repeats):
            start = time.perf_counter()
            record = client.ask(HITS[i % len(HITS)], 30.0)
            trips.append((time.perf_counter() - start) * 1000.0)
            sources.add(record['source'] if record else 'timeout')
            time.sleep(0.02)  # one at a time, as people talk
        busy = cpu_s(pids) - busy_before - idle * repeats * 0.02
        return {'trips': trips, 'sources': sources, 'idle': idle,
                'cpu_ms': busy * 1000.0 / repeats}
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGINT)
        for proc in procs:
            try:
                proc.wait(20.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        time.sleep(1.0)  # DDS forgets the old subscriptions


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=200)
    parser.add_argument('--idle-s', type=float, default=5.0)
    args = parser.parse_args()
    from claudia_llm.testing.ros_domain import use_private_domain
    use_private_domain()  # never the shell's (a robot's) domain
    env = dict(os.environ, PYTHONPATH=str(ROOT))

    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from claudia_llm.core.paths import config_dir
    from claudia_llm.ros.client import UtteranceClient
    from claudia_llm.ros.compat import try_shutdown
    from claudia_llm.testing.ollama_server import OllamaTestServer
    from claudia_llm.testing.redis_server import start_redis

    workdir = tempfile.mkdtemp()
    redis = start_redis(workdir)
    ollama = OllamaTestServer(slots=1)
    ollama.start()
    overrides = ['redis.url:=' + redis.url, 'ollama.host:=' + ollama.url,
                 'safety.cooldown_s:=0.0']
    rclpy.init()
    client = UtteranceClient(node_name='bench_probe')
    executor = SingleThreadedExecutor()
    executor.add_node(client)
    threading.Thread(target=executor.spin, daemon=True).start()
    results = {}
    try:
        config = str(config_dir() / 'claudia_llm.yaml')
        for label, argvs in layouts(config, overrides).items():
            results[label] = measure(client, argvs, args.repeats, args.idle_s, env)
    finally:
        executor.shutdown(timeout_sec=5)
        client.destroy_node()
        try_shutdown()
        ollama.stop()
        redis.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    print('\nCache hits from a separate process over DDS (%d repeats, %s, %d cores)'
          % (args.repeats, time.strftime('%Y-%m-%d'), os.cpu_count()))
    print('| layout | round trip p50 ms | p99 ms | max ms | CPU per hit ms '
          '| idle CPU % of a core | sources |')
    print('|---|---|---|---|---|---|---|')
    for label, r in results.items():
        trips = r['trips']
        print('| %s | %.2f | %.2f | %.2f | %.2f | %.1f | %s |' % (
            label, np.percentile(trips, 50), np.percentile(trips, 99), max(trips),
            r['cpu_ms'], 100.0 * r['idle'], ','.join(sorted(r['sources']))))
    return 0


if __name__ == '__main__':
    sys.exit(main())
