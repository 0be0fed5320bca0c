"""Benchmark: our LLM scheduler vs the seed's client-side batching, side by side (issue 5).

The Ollama-protocol test server models N parallel slots and a per-request service time
(default 1.5 s, as Qwen2.5-7B on the Orin). Poisson arrivals at several rates go, with the
same arrival times, through each policy:

- ``seed``: the seed's policy, re-implemented here only: requests are collected per
  priority into batches of up to 8, a batch is sent when full or 2 s after its first
  request, at most 4 batches in flight; the batch's requests go to Ollama together and
  wait in Ollama's FIFO queue.
- ``ours/redis``: ``build.make_scheduler`` as llm_node builds it (Redis streams, in-node worker,
  at most N in flight, the rest waiting in Redis by priority).
- ``ours/memory``: the in-process scheduler (what runs while Redis is down).

Printed per rate and policy: p50/p95 latency (arrival to answer), throughput, and p50
over the bare service time measured with no queue. Then "high priority under full load":
8 normal requests arrive at once and a high-priority one right after; its latency.

All times are scaled by ``--time-scale`` to keep the run short and reported unscaled.

    .venv/bin/python bench/scheduler.py [--time-scale 0.2] [--requests 25] [--slots 1]
"""
import argparse
import asyncio
import math
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from claudia_llm.core import build  # noqa: E402
from claudia_llm.core import settings as settings_mod  # noqa: E402
from claudia_llm.core.config import config_from  # noqa: E402
from claudia_llm.core.llm.scheduler import InProcessScheduler, LLMRequest  # noqa: E402
from claudia_llm.testing.ollama_server import OllamaTestServer  # noqa: E402

SERVICE_S = 1.5
SEED_BATCH, SEED_WINDOW_S, SEED_BATCHES = 8, 2.0, 4


class SeedBatcher:
    """The seed's policy: per-priority batches of up to 8, sent when full or after 2 s."""

    def __init__(self, llm, window_s: float, batch: int = SEED_BATCH,
                 concurrent_batches: int = SEED_BATCHES):
        self.llm, self.window_s, self.batch = llm, window_s, batch
        self._pending = {'high': [], 'normal': [], 'low': []}  # type: Dict[str, List[Any]]
        self._timers = {}  # type: Dict[str, asyncio.Task]
        self._batches = asyncio.Semaphore(concurrent_batches)

    async def start(self) -> None:
        pass

    async def submit(self, request: LLMRequest) -> Any:
        future = asyncio.get_running_loop().create_future()
        queue = self._pending[request.priority]
        queue.append((request, future))
        if len(queue) >= self.batch:
            self._flush(request.priority)
        elif request.priority not in self._timers:
            self._timers[request.priority] = asyncio.ensure_future(
                self._flush_later(request.priority))
        return await future

    async def aclose(self) -> None:
        for timer in self._timers.values():
            timer.cancel()

    async def _flush_later(self, priority: str) -> None:
        await asyncio.sleep(self.window_s)
        self._timers.pop(priority, None)
        self._flush(priority)

    def _flush(self, priority: str) -> None:
        timer = self._timers.pop(priority, None)
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()
        batch, self._pending[priority] = self._pending[priority], []
        if batch:
            asyncio.ensure_future(self._send(batch))

    async def _send(self, batch) -> None:
        async with self._batches:
            outcomes = await asyncio.gather(*[self.llm.chat(r.text) for r, _ in batch],
                                            return_exceptions=True)
        for (_request, future), outcome in zip(batch, outcomes):
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)


class RedisServer:
    """A throw-away redis-server on a free loopback port."""

    def __init__(self):
        binary = shutil.which('redis-server')
        if binary is None:
            raise RuntimeError('redis-server not found (scripts/install_system_deps.sh)')
        with socket.socket() as sock:
            sock.bind(('127.0.0.1', 0))
            self.port = sock.getsockname()[1]
        self.url = 'redis://127.0.0.1:%d/0' % self.port
        self._dir = tempfile.TemporaryDirectory()
        self.process = subprocess.Popen(
            [binary, '--port', str(self.port), '--bind', '127.0.0.1', '--save', '',
             '--appendonly', 'no', '--dir', self._dir.name], stdout=subprocess.DEVNULL)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            try:
                with socket.create_connection(('127.0.0.1', self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError('redis-server did not start')

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        self._dir.cleanup()


def settings_for(ollama_url: str, redis_url: str, slots: int, scale: float) -> Dict[str, Any]:
    values = settings_mod.defaults('llm_node')
    values.update({'ollama.host': ollama_url, 'redis.url': redis_url,
                   'ollama.parallel_slots': slots, 'scheduler.max_concurrency': slots,
                   'ollama.timeout_s': 600.0, 'scheduler.queue_size': 256,
                   'redis.key_prefix': 'bench%d' % random.randrange(10 ** 6)})
    return values


async def with_policy(name: str, settings: Dict[str, Any], scale: float,
                      body: Callable[[Any], Any]) -> Any:
    """Build policy ``name`` on a fresh LLM client, run ``body(policy)``, tear down."""
    llm = build.make_llm(config_from(settings))
    clients = []
    if name == 'seed':
        policy = SeedBatcher(llm, window_s=SEED_WINDOW_S * scale)
    elif name == 'ours/memory':
        policy = InProcessScheduler(llm, max_in_flight=settings['ollama.parallel_slots'],
                                    queue_size=settings['scheduler.queue_size'])
    else:
        clients = list(build.make_redis_clients(config_from(settings)))
        policy = build.make_scheduler(config_from(settings), llm, *clients)
    await policy.start()
    try:
        return await body(policy)
    finally:
        await policy.aclose()
        await llm.aclose()
        for client in clients:
            await client.aclose()


async def timed(policy, request: LLMRequest, latencies: List[float], failures: List[str],
                loop_start: float, ends: List[float]) -> None:
    started = time.monotonic()
    try:
        await policy.submit(request)
        latencies.append(time.monotonic() - started)
    except Exception as exc:  # noqa: BLE001 - counted and shown in the table
        failures.append(getattr(exc, 'code', type(exc).__name__))
    ends.append(time.monotonic() - loop_start)


async def poisson_run(policy, gaps: List[float], scale: float) -> Dict[str, Any]:
    latencies, failures, ends, tasks = [], [], [], []
    start = time.monotonic()
    for index, gap in enumerate(gaps):
        await asyncio.sleep(gap * scale)
        request = LLMRequest('r%d' % index, 'bench request %d' % index, deadline_s=3600.0)
        tasks.append(asyncio.ensure_future(timed(policy, request, latencies, failures,
                                                 start, ends)))
    await asyncio.gather(*tasks)
    span = max(ends) if ends else 1.0
    return {'latencies': [x / scale for x in latencies], 'failures': failures,
            'throughput': len(latencies) / (span / scale)}


async def high_under_load(policy, scale: float, queued: int = 8) -> float:
    latencies, failures, ends = [], [], []
    start = time.monotonic()
    load = [asyncio.ensure_future(timed(policy, LLMRequest(
        'load%d' % i, 'background %d' % i, deadline_s=3600.0), [], failures, start, ends))
        for i in range(queued)]
    await asyncio.sleep(0.5 * scale)  # the loads are queued, the first one is in service
    await timed(policy, LLMRequest('urgent', 'urgent request', priority='high',
                                   deadline_s=3600.0), latencies, failures, start, ends)
    await asyncio.gather(*load)
    if not latencies:
        raise RuntimeError('high-priority request failed: %s' % failures)
    return latencies[0] / scale


async def bare_latency(settings: Dict[str, Any], scale: float, count: int = 5) -> float:
    llm = build.make_llm(config_from(settings))
    try:
        await llm.warmup()
        samples = []
        for index in range(count):
            started = time.monotonic()
            await llm.chat('bare %d' % index)
            samples.append((time.monotonic() - started) / scale)
        return statistics.median(samples)
    finally:
        await llm.aclose()


def poisson_gaps(rate: float, count: int, seed: int) -> List[float]:
    """``count`` exponential inter-arrival gaps (mean ``1 / rate`` s) in random order.

    Stratified: the gaps are the exponential distribution's quantiles at (i + 0.5) / count,
    shuffled, so a short run has the distribution's real shape and mean instead of one
    unlucky draw (with 25 plain draws the mean gap can be off by 40 %).
    """
    gaps = [-math.log(1.0 - (i + 0.5) / count) / rate for i in range(count)]
    random.Random(seed).shuffle(gaps)
    return gaps


def percentile(values: List[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float('nan')
    return ordered[min(int(round(q * (len(ordered) - 1))), len(ordered) - 1)]


async def run(args) -> None:
    scale, slots = args.time_scale, args.slots
    redis = RedisServer()
    server = OllamaTestServer(slots=slots, service_time_s=SERVICE_S * scale)
    url = server.start()
    policies = ['seed', 'ours/redis', 'ours/memory']
    try:
        settings = settings_for(url, redis.url, slots, scale)
        bare = await bare_latency(settings, scale)
        rows = []
        for rate in args.rates:
            gaps = [0.0] + poisson_gaps(rate, args.requests - 1, seed=int(rate * 1000))
            for name in policies:
                settings = settings_for(url, redis.url, slots, scale)
                stats = await with_policy(name, settings, scale,
                                          lambda p, g=gaps: poisson_run(p, g, scale))
                rows.append((rate, name, stats))
                print_row(rate, name, stats, bare, flush=True)
        high = {}
        for name in policies:
            settings = settings_for(url, redis.url, slots, scale)
            samples = [await with_policy(name, settings, scale,
                                         lambda p: high_under_load(p, scale))
                       for _ in range(3)]
            high[name] = statistics.median(samples)
            print('  high priority under load %-12s %.2f s' % (name, high[name]),
                  file=sys.stderr, flush=True)
        print_tables(rows, high, bare, args)
    finally:
        server.stop()
        redis.stop()


def print_row(rate: float, name: str, stats: Dict[str, Any], bare: float,
              flush: bool = False) -> None:
    lat = stats['latencies']
    print('  rate %.2f %-12s n=%d p50=%.2fs p95=%.2fs thr=%.3f/s failures=%s'
          % (rate, name, len(lat), percentile(lat, 0.5), percentile(lat, 0.95),
             stats['throughput'], stats['failures'] or '-'), file=sys.stderr, flush=flush)


def print_tables(rows, high: Dict[str, float], bare: float, args) -> None:
    print('\nLLM scheduling, %d Ollama slot(s), service time %.1f s (bare latency measured: '
          '%.2f s), %d Poisson arrivals per rate, time scale %.2f (times shown unscaled)\n'
          % (args.slots, SERVICE_S, bare, args.requests, args.time_scale))
    print('| rate (req/s) | policy | p50 (s) | p95 (s) | throughput (req/s) | p50 / bare '
          '| failed |')
    print('|---|---|---|---|---|---|---|')
    for rate, name, stats in rows:
        lat = stats['latencies']
        print('| %.2f | %s | %.2f | %.2f | %.3f | %.2f | %d |' % (
            rate, name, percentile(lat, 0.5), percentile(lat, 0.95), stats['throughput'],
            percentile(lat, 0.5) / bare, len(stats['failures'])))
    print('\nHigh-priority request arriving right after 8 normal ones (queue full), '
          'median of 3:\n')
    print('| policy | high-priority latency (s) |')
    print('|---|---|')
    for name, value in high.items():
        print('| %s | %.2f |' % (name, value))


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--time-scale', type=float, default=0.2,
                        help='multiply every time (service, arrivals, 2 s window) by this')
    parser.add_argument('--requests', type=int, default=25, help='arrivals per rate')
    parser.add_argument('--rates', type=float, nargs='+', default=[0.2, 0.4, 0.6],
                        help='arrival rates, requests per (unscaled) second')
    parser.add_argument('--slots', type=int, default=1, help='Ollama parallel slots')
    args = parser.parse_args(argv)
    asyncio.run(run(args))
    return 0


if __name__ == '__main__':
    sys.exit(main())
