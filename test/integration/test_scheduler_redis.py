"""The LLM queue in Redis streams against a real redis-server and the test server.

Workers run in process (``LLMWorker``) or as ``python -m claudia_llm.worker_main``
processes; the test server records every request it saw, so "reached the LLM" and "in
flight at once" are checked from its log, not from timings. Every test runs once per
``llm.backend`` (the server's ``backend`` says which one its clients speak).
"""
import asyncio
import collections
import contextlib
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from backends import node_overrides

from claudia_llm.core import build
from claudia_llm.core import settings as settings_mod
from claudia_llm.core.config import config_from
from claudia_llm.core.errors import (
    LLMHTTPError,
    RequestCancelled,
    RequestExpired,
    SchedulerBusy,
)
from claudia_llm.core.llm.scheduler import LLMRequest, LLMWorker, RedisScheduler
from claudia_llm.core.llm.scheduler import keys as K
from claudia_llm.core.redis_conn import make_redis
from claudia_llm.testing.ollama_script import GENERIC_REPLIES, last_user_text
from claudia_llm.testing.ollama_server import OllamaTestServer

REPO = Path(__file__).resolve().parents[2]
BOUND_S = 30.0  # upper bound of any wait here; reaching it fails the test


@pytest.fixture
def ollama_factory(llm_backend):
    servers = []

    def start(slots=1, service_time_s=0.1, script=None):
        server = OllamaTestServer(slots=slots, service_time_s=service_time_s, script=script)
        server.start()
        server.backend = llm_backend
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def make_llm(settings):
    """The LLM client llm_node and ``claudia-llm worker`` build from these settings."""
    return build.make_llm(config_from(settings))


def make_settings(redis_server, ollama, **over):
    values = settings_mod.defaults('llm_node')
    values.update({'redis.url': redis_server.url, 'ollama.warmup': False,
                   'scheduler.claim_idle_s': 1.0, 'redis.retry_interval_s': 0.2})
    values.update(node_overrides(ollama.backend, ollama.url))
    values.update({k.replace('__', '.'): v for k, v in over.items()})
    return values


@contextlib.asynccontextmanager
async def clients(url, max_connections=16):
    redis = make_redis(url, max_connections=max_connections)
    blocking = make_redis(url, for_blocking_reads=True, block_s=1.0)
    try:
        yield redis, blocking
    finally:
        await redis.aclose()
        await blocking.aclose()


@contextlib.asynccontextmanager
async def node(settings, on_orphan=None, origin='llm_node'):
    """build.make_scheduler as llm_node builds it: failover, in-node worker."""
    llm = make_llm(settings)
    async with clients(settings['redis.url']) as (redis, blocking):
        sched = build.make_scheduler(config_from(settings), llm, redis, blocking,
                                     on_orphan=on_orphan, origin=origin)
        await sched.start()
        try:
            yield sched
        finally:
            await sched.aclose()
            await llm.aclose()


def texts(server):
    """User texts the server received, in arrival order."""
    return [last_user_text(e['messages']) for e in server.requests() if e['messages']]


def req(text, priority='normal', deadline_s=BOUND_S, rid=None):
    return LLMRequest(request_id=rid or text, text=text, utterance=text, priority=priority,
                      deadline_s=deadline_s)


async def wait_until(predicate, what, bound_s=BOUND_S):
    end = time.monotonic() + bound_s
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError('gave up waiting for ' + what)
        await asyncio.sleep(0.02)


async def results_added(redis, origin='llm_node'):
    """Entries ever appended to an origin's results stream (publications)."""
    info = await redis.xinfo_stream(K.Keys('claudia').results(origin))
    return info['entries-added']


def spawn_worker(tmp_path, settings, name, slots=1):
    log = open(tmp_path / ('%s.log' % name), 'w')
    proc = subprocess.Popen(
        [sys.executable, '-m', 'claudia_llm.worker_main', '--redis-url', settings['redis.url'],
         '--ollama-host', settings['ollama.host'], '--llm-backend', settings['llm.backend'],
         '--base-url', settings['llm.base_url'], '--slots', str(slots), '--name', name,
         '--claim-idle-s', str(settings['scheduler.claim_idle_s']), '--no-warmup',
         '--drain-s', '3'],
        cwd=str(REPO), stdout=subprocess.PIPE, stderr=log, text=True)
    log.close()
    return proc


async def ready(proc):
    line = await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(
        None, proc.stdout.readline), BOUND_S)
    assert 'started' in line, line


def stop_process(proc, sig=signal.SIGTERM):
    if proc.poll() is None:
        proc.send_signal(sig)
    return proc.wait(BOUND_S)


@pytest.mark.asyncio
async def test_high_first_at_most_n_in_flight_rest_waits_in_redis(redis_server, ollama_factory):
    server = ollama_factory(slots=4, script=[{'match': 'block', 'delay_s': 1.0}])
    async with node(make_settings(redis_server, server)) as sched:
        first = asyncio.ensure_future(sched.submit(req('block')))
        await wait_until(lambda: server.stats()['in_service'] == 1, 'the first call')
        tasks = [asyncio.ensure_future(sched.submit(req(t, p)))
                 for t, p in (('low', 'low'), ('normal', 'normal'), ('high', 'high'))]
        async with clients(redis_server.url) as (redis, _):
            keys = K.Keys('claudia')
            for _ in range(100):
                lengths = [await redis.xlen(s) for s in keys.streams]
                if sum(lengths) == 3:
                    break
                await asyncio.sleep(0.02)
            assert lengths == [1, 1, 1]  # waiting in Redis ...
            assert server.stats()['waiting'] == 0  # ... not in Ollama
        results = await asyncio.gather(first, *tasks)
    assert texts(server) == ['block', 'high', 'normal', 'low']
    assert server.stats()['max_in_service'] == 1
    assert all(r.answer.reply for r in results)


@pytest.mark.asyncio
async def test_full_queue_answers_busy(redis_server, ollama_factory):
    server = ollama_factory(script=[{'match': 'block', 'delay_s': 1.0}])
    settings = make_settings(redis_server, server, scheduler__queue_size=2)
    async with node(settings) as sched:
        first = asyncio.ensure_future(sched.submit(req('block')))
        await wait_until(lambda: server.stats()['in_service'] == 1, 'the first call')
        queued = [asyncio.ensure_future(sched.submit(req('q%d' % i))) for i in range(2)]
        await asyncio.sleep(0.2)
        with pytest.raises(SchedulerBusy) as info:
            await sched.submit(req('one too many'))
        assert info.value.code == 'busy'
        await asyncio.gather(first, *queued)
    assert 'one too many' not in texts(server)


@pytest.mark.asyncio
async def test_request_past_deadline_is_expired_and_never_sent(redis_server, ollama_factory):
    server = ollama_factory(script=[{'match': 'block', 'delay_s': 1.5}])
    async with node(make_settings(redis_server, server)) as sched:
        first = asyncio.ensure_future(sched.submit(req('block')))
        await wait_until(lambda: server.stats()['in_service'] == 1, 'the first call')
        with pytest.raises(RequestExpired):
            await sched.submit(req('too late', deadline_s=0.5))
        await first
        await sched.submit(req('after'))  # the worker has dequeued the expired one by now
    assert texts(server) == ['block', 'after']


@pytest.mark.asyncio
async def test_coalescing_error_fan_out_and_cancelled_waiter(redis_server, ollama_factory):
    script = [{'match': 'fails', 'status': 503, 'error': 'overloaded', 'delay_s': 0.5},
              {'match': 'same', 'delay_s': 0.5}]
    server = ollama_factory(slots=2, script=script)
    async with node(make_settings(redis_server, server)) as sched:
        failing = [asyncio.ensure_future(sched.submit(req('fails', rid='f%d' % i)))
                   for i in range(3)]
        errors = await asyncio.gather(*failing, return_exceptions=True)
        assert [type(e) for e in errors] == [LLMHTTPError] * 3
        assert {e.status_code for e in errors} == {503}
        again = await asyncio.gather(sched.submit(req('fails', rid='f-again')),
                                     return_exceptions=True)
        assert isinstance(again[0], LLMHTTPError)  # a new call: errors are not cached
        same = [asyncio.ensure_future(sched.submit(req('same', rid='s%d' % i)))
                for i in range(3)]
        await asyncio.sleep(0.1)
        same[0].cancel()
        done = await asyncio.gather(*same, return_exceptions=True)
    assert isinstance(done[0], asyncio.CancelledError)
    assert done[1].answer == done[2].answer
    assert collections.Counter(texts(server)) == {'fails': 2, 'same': 1}


@pytest.mark.asyncio
async def test_cancel_before_skips_older_queued_requests(redis_server, ollama_factory):
    server = ollama_factory(script=[{'match': 'block', 'delay_s': 1.0}])
    async with node(make_settings(redis_server, server)) as sched:
        first = asyncio.ensure_future(sched.submit(req('block')))
        await wait_until(lambda: server.stats()['in_service'] == 1, 'the first call')
        old = asyncio.ensure_future(sched.submit(req('old')))
        await asyncio.sleep(0.05)
        stamp = time.time()
        await asyncio.sleep(0.01)
        new = asyncio.ensure_future(sched.submit(req('new')))
        await asyncio.sleep(0.05)
        assert sched.cancel_before(stamp) == 2  # 'block' (running) and 'old' (queued)
        for task in (first, old):
            with pytest.raises(RequestCancelled):
                await task
        assert (await new).answer.reply
    assert texts(server) == ['block', 'new']


@pytest.mark.asyncio
async def test_slow_request_of_a_live_worker_is_not_taken_over(redis_server, ollama_factory):
    server = ollama_factory(slots=2, service_time_s=2.0)
    settings = make_settings(redis_server, server)
    llm = make_llm(settings)
    async with clients(redis_server.url) as (redis, blocking):
        async with clients(redis_server.url) as (_redis2, blocking2):
            workers = [LLMWorker(redis, b, llm, 'w%d' % i, claim_idle_s=0.5, block_s=0.5)
                       for i, b in enumerate((blocking, blocking2))]
            submitter = RedisScheduler(redis, blocking, llm, origin='slow')
            await submitter.start()
            for worker in workers:
                await worker.start()
            results = await asyncio.gather(*[submitter.submit(req('slow %d' % i))
                                             for i in range(2)])
            for worker in workers:
                await worker.stop()
            await submitter.aclose()
            assert await results_added(redis, 'slow') == 2
    await llm.aclose()
    assert len(results) == 2 and sorted(texts(server)) == ['slow 0', 'slow 1']


@pytest.mark.asyncio
async def test_worker_process_killed_mid_request(redis_server, ollama_factory, tmp_path):
    server = ollama_factory(slots=2, service_time_s=1.0)
    settings = make_settings(redis_server, server)
    outcomes = collections.Counter()
    async with clients(redis_server.url) as (redis, blocking):
        submitter = RedisScheduler(redis, blocking, None, origin='kill')
        original = submitter._on_result

        async def counting(stream, entry_id, fields):
            outcomes[fields[b'request_id'].decode()] += 1
            await original(stream, entry_id, fields)
        submitter._on_result = counting
        await submitter.start()
        tasks = [asyncio.ensure_future(submitter.submit(req('k%d' % i))) for i in range(4)]
        victim = spawn_worker(tmp_path, settings, 'victim', slots=2)
        await ready(victim)
        await wait_until(lambda: server.stats()['in_service'] == 2, 'two calls in service')
        victim.send_signal(signal.SIGKILL)
        victim.wait(BOUND_S)
        heir = spawn_worker(tmp_path, settings, 'heir', slots=2)
        await ready(heir)
        results = await asyncio.gather(*tasks)
        published = await results_added(redis, 'kill')
        assert stop_process(heir) == 0
        await submitter.aclose()
    assert all(r.answer.reply for r in results)
    assert published == 4 and set(outcomes.values()) == {1} and len(outcomes) == 4
    served = collections.Counter(texts(server))
    assert sorted(served.values()) == [1, 1, 2, 2]  # the two killed calls were redone


@pytest.mark.asyncio
async def test_two_worker_processes_share_a_burst_of_100(redis_server, ollama_factory,
                                                         tmp_path):
    server = ollama_factory(slots=4, service_time_s=0.05)
    settings = make_settings(redis_server, server)
    workers = [spawn_worker(tmp_path, settings, 'burst%d' % i, slots=2) for i in range(2)]
    try:
        for proc in workers:
            await ready(proc)
        # A connection per concurrent submit: this test is about the workers sharing the
        # burst, not about the submitter's pool (16) making 84 callers wait on a slow CI.
        async with clients(redis_server.url, max_connections=128) as (redis, blocking):
            # stall_s 10: 100 TCP connects at once on a loaded 2-core CI can take > 1 s, which
            # the node would rightly call a stall; here it would only fail the wrong test.
            submitter = RedisScheduler(redis, blocking, None, origin='burst', queue_size=200,
                                       stall_s=10.0)
            await submitter.start()
            try:
                results = await asyncio.gather(*[submitter.submit(req('burst %d' % i))
                                                 for i in range(100)])
                published = await results_added(redis, 'burst')
            finally:
                await submitter.aclose()
    finally:
        stopped = [stop_process(p) for p in workers]
    assert stopped == [0, 0]
    counts = [int(re.search(r'stopped after (\d+) requests',
                            (tmp_path / ('burst%d.log' % i)).read_text()).group(1))
              for i in range(2)]
    assert len(results) == 100 and published == 100
    assert sum(counts) == 100 and min(counts) > 0
    assert sorted(collections.Counter(texts(server)).values()) == [1] * 100


@pytest.mark.asyncio
async def test_restarted_node_answers_or_expires_its_orphans(redis_server, ollama_factory):
    server = ollama_factory()
    settings = make_settings(redis_server, server)
    code = ('import asyncio, sys\n'
            'from claudia_llm.core.redis_conn import make_redis\n'
            'from claudia_llm.core.llm.scheduler import LLMRequest, RedisScheduler\n'
            'async def main():\n'
            '    url = sys.argv[1]\n'
            '    s = RedisScheduler(make_redis(url), make_redis(url, for_blocking_reads=True),'
            ' None, origin="orphan")\n'
            '    await s.start()\n'
            '    reqs = [LLMRequest("o%d" % i, "orphan %d" % i, deadline_s=d)'
            ' for i, d in enumerate((30.0, 30.0, 1.0))]\n'
            '    tasks = [asyncio.ensure_future(s.submit(r)) for r in reqs]\n'
            '    await asyncio.sleep(0.3)\n'
            '    print("submitted", flush=True)\n'
            '    await asyncio.sleep(60)\n'
            'asyncio.run(main())\n')
    proc = subprocess.Popen([sys.executable, '-c', code, redis_server.url], cwd=str(REPO),
                            stdout=subprocess.PIPE, text=True)
    line = await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(
        None, proc.stdout.readline), BOUND_S)
    assert line.strip() == 'submitted'
    stop_process(proc, signal.SIGKILL)  # dies with three requests queued, no worker yet
    seen = []

    async def on_orphan(request, result, error):
        seen.append((request.request_id, request.text, result, error))

    llm = make_llm(settings)
    async with clients(redis_server.url) as (redis, blocking):
        restarted = RedisScheduler(redis, blocking, llm, origin='orphan', on_orphan=on_orphan)
        await restarted.start()
        await wait_until(lambda: len(seen) == 1, 'the short-deadline orphan to expire')
        async with clients(redis_server.url) as (_r, worker_blocking):
            worker = LLMWorker(redis, worker_blocking, llm, 'orphan-worker')
            await worker.start()
            await wait_until(lambda: len(seen) == 3, 'the other two orphans')
            await asyncio.sleep(0.5)  # a duplicate outcome would arrive within this
            await worker.stop()
        left = await redis.hlen(K.Keys('claudia').inflight('orphan'))
        await restarted.aclose()
    await llm.aclose()
    assert seen[0][0] == 'o2' and isinstance(seen[0][3], RequestExpired)
    answered = sorted(seen[1:], key=lambda s: s[0])
    assert [(s[0], s[1], s[3]) for s in answered] == [('o0', 'orphan 0', None),
                                                     ('o1', 'orphan 1', None)]
    assert all(s[2].answer.reply for s in answered)
    assert len(seen) == 3 and left == 0 and sorted(texts(server)) == ['orphan 0', 'orphan 1']


@pytest.mark.asyncio
async def test_failover_to_in_process_and_back(redis_server, ollama_factory):
    server = ollama_factory()
    redis_server.stop()
    async with node(make_settings(redis_server, server)) as sched:
        assert sched.mode == 'memory'
        during = await sched.submit(req('while redis is down'))
        redis_server.start()
        await wait_until(lambda: sched.mode == 'redis', 'the switch back to Redis')
        after = await sched.submit(req('redis is back'))
        async with clients(redis_server.url) as (redis, _):
            published = await results_added(redis)
    assert during.answer.reply and after.answer.reply
    assert published == 1  # the second request went through the Redis streams
    assert texts(server) == ['while redis is down', 'redis is back']


async def _steady_run(sched, count, disturb, at):
    tasks = []
    for i in range(count):
        if i == at:
            await disturb()
        tasks.append(asyncio.ensure_future(sched.submit(req('steady %d' % i))))
        await asyncio.sleep(0.05)
    return await asyncio.gather(*tasks, return_exceptions=True)


@pytest.mark.asyncio
async def test_redis_restart_mid_run_loses_no_request(redis_server, ollama_factory):
    server = ollama_factory(service_time_s=0.05)

    async def restart():
        redis_server.stop()
        await asyncio.sleep(1.0)
        redis_server.start()

    async with node(make_settings(redis_server, server)) as sched:
        outcomes = await _steady_run(sched, 30, restart, at=10)
        await wait_until(lambda: sched.mode == 'redis', 'the switch back to Redis')
        after = await sched.submit(req('after the restart'))
    assert [type(o).__name__ for o in outcomes] == ['LLMResult'] * 30
    assert after.answer.reply


@pytest.mark.asyncio
async def test_client_kill_mid_run_loses_no_request(redis_server, ollama_factory):
    server = ollama_factory(service_time_s=0.05)
    async with clients(redis_server.url) as (admin, _):
        killed = []

        async def kill():
            killed.append(await admin.execute_command('CLIENT', 'KILL', 'TYPE', 'normal',
                                                      'SKIPME', 'yes'))

        async with node(make_settings(redis_server, server)) as sched:
            outcomes = await _steady_run(sched, 30, kill, at=10)
            await kill()
            after = await sched.submit(req('after the kill'))
            mode = sched.mode
    assert killed[0] >= 2  # the scheduler's and the worker's connections were cut
    assert [type(o).__name__ for o in outcomes] == ['LLMResult'] * 30
    assert after.answer.reply and mode == 'redis'


@pytest.mark.asyncio
async def test_cancelled_command_then_next_on_same_connection_gets_its_own_reply(
        redis_server):
    """The redis-py CVE-2023-28858/28859 class: a reply must never go to the next command."""
    client = make_redis(redis_server.url, for_blocking_reads=True, block_s=5.0)
    async with clients(redis_server.url) as (other, _):
        await other.set('mine', 'the right reply')
        for delay in (0.0, 0.001, 0.01, 0.05):
            pending = asyncio.ensure_future(client.blpop(['cancel:list'], timeout=2))
            await asyncio.sleep(delay)
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pending
            await other.rpush('cancel:list', 'for the cancelled pop')
            assert await client.get('mine') == b'the right reply'
            assert await other.llen('cancel:list') == 1  # the cancelled pop took nothing
            await other.delete('cancel:list')
        for i in range(200):  # cancellation at random points of fast commands
            await other.set('k%d' % i, 'v%d' % i)
            task = asyncio.ensure_future(client.get('k%d' % i))
            await asyncio.sleep(0)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            assert await client.get('mine') == b'the right reply'
    await client.aclose()


@pytest.mark.asyncio
async def test_a_reused_request_id_gets_its_own_answer(redis_server, ollama_factory):
    server = ollama_factory()
    async with node(make_settings(redis_server, server)) as sched:
        english = await sched.submit(req('hello there', rid='id-1'))
        japanese = await sched.submit(req('こんにちは、元気?', rid='id-1'))
    assert (english.answer.reply, japanese.answer.reply) == (GENERIC_REPLIES['en'],
                                                             GENERIC_REPLIES['ja'])


def test_worker_main_stops_cleanly_on_sigint(redis_server, ollama_factory, tmp_path):
    server = ollama_factory()
    proc = spawn_worker(tmp_path, make_settings(redis_server, server), 'sigint')
    assert 'started' in proc.stdout.readline()
    proc.send_signal(signal.SIGINT)
    assert proc.wait(BOUND_S) == 0
    assert 'stopped after 0 requests' in (tmp_path / 'sigint.log').read_text()
