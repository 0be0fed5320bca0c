"""LLM requests queued in Redis when Redis stalls (SIGSTOP) or dies (SIGKILL) and returns.

Issue 16 item 2: every request gets exactly one answer, none expires because Redis failed,
the requests move in process most urgent first, and when Redis is back nothing is answered
again (no orphan outcome, no second LLM call for a moved request, nothing left in the
node's in-flight hash for a later life of the node to answer).

A real redis-server (``claudia_llm.testing.redis_server``), the Ollama test server, and
the scheduler ``build.make_scheduler`` gives llm_node (failover, in-node worker).
"""
import asyncio
import collections
import contextlib
import time

import pytest

from claudia_llm.core import build
from claudia_llm.core import settings as settings_mod
from claudia_llm.core.config import config_from
from claudia_llm.core.llm.scheduler import LLMRequest
from claudia_llm.core.llm.scheduler import keys as K
from claudia_llm.core.redis_conn import make_redis
from claudia_llm.testing.ollama_script import last_user_text
from claudia_llm.testing.ollama_server import OllamaTestServer

BOUND_S = 30.0  # upper bound of any wait here; reaching it fails the test
DEADLINE_S = 8.0  # of the queued requests: several times what the move in process takes
KEYS = K.Keys('claudia')
ORIGIN = 'llm_node'


@pytest.fixture
def ollama():
    server = OllamaTestServer(slots=2, service_time_s=0.05)
    server.start()
    yield server
    server.stop()


def make_settings(redis_server, ollama):
    values = settings_mod.defaults('llm_node')
    values.update({'redis.url': redis_server.url, 'ollama.host': ollama.url,
                   'ollama.warmup': False, 'scheduler.claim_idle_s': 1.0,
                   'redis.retry_interval_s': 0.2, 'scheduler.redis_stall_s': 1.0})
    return values


@contextlib.asynccontextmanager
async def node(settings, orphans):
    """The scheduler llm_node builds; ``orphans`` collects every orphan outcome."""
    config = config_from(settings)
    llm = build.make_llm(config)
    redis = make_redis(settings['redis.url'])
    blocking = make_redis(settings['redis.url'], for_blocking_reads=True, block_s=1.0)

    def on_orphan(request, result, error):
        orphans.append((request.request_id, result, error))

    sched = build.make_scheduler(config, llm, redis, blocking, on_orphan=on_orphan,
                                 origin=ORIGIN)
    await sched.start()
    try:
        yield sched
    finally:
        await sched.aclose()
        await llm.aclose()
        await redis.aclose()
        await blocking.aclose()


def texts(server):
    return [last_user_text(e['messages']) for e in server.requests() if e['messages']]


def req(text, priority='normal', deadline_s=DEADLINE_S):
    return LLMRequest(request_id=text, text=text, utterance=text, priority=priority,
                      deadline_s=deadline_s)


async def wait_until(predicate, what, bound_s=BOUND_S):
    end = time.monotonic() + bound_s
    while not await predicate():
        if time.monotonic() > end:
            raise AssertionError('gave up waiting for ' + what)
        await asyncio.sleep(0.05)


async def queued_in_redis(url, count):
    """Wait until ``count`` request entries sit in the streams."""
    admin = make_redis(url)
    try:
        async def there():
            return sum([await admin.xlen(s) for s in KEYS.streams]) == count
        await wait_until(there, '%d requests in the streams' % count)
    finally:
        await admin.aclose()


async def settled(url, sched):
    """Redis is back and has nothing left of the moved requests (entries, in-flight)."""
    admin = make_redis(url)
    try:
        async def clean():
            if sched.watch.down or sched.migration.tombstones() or sched.mode != 'redis':
                return False
            lengths = [await admin.xlen(s) for s in KEYS.streams]
            return sum(lengths) == 0 and await admin.hlen(KEYS.inflight(ORIGIN)) == 0
        await wait_until(clean, 'Redis to have worked off the moved requests')
    finally:
        await admin.aclose()


QUEUED = [('low 0', 'low'), ('normal 0', 'normal'), ('high 0', 'high'), ('low 1', 'low'),
          ('high 1', 'high')]
IN_PRIORITY_ORDER = ['high 0', 'high 1', 'first', 'normal 0', 'low 0', 'low 1']


async def first_running_rest_queued(sched, ollama, url):
    """'first' held by the in-node worker (slow), the QUEUED ones waiting in Redis."""
    ollama.set_script([{'match': 'first', 'delay_s': BOUND_S}])
    first = asyncio.ensure_future(sched.submit(req('first')))

    async def started():
        return ollama.stats()['in_service'] == 1
    await wait_until(started, 'the worker to call the LLM')
    tasks = [asyncio.ensure_future(sched.submit(req(t, p))) for t, p in QUEUED]
    await queued_in_redis(url, 1 + len(QUEUED))
    ollama.set_script(None)  # answered in process, 'first' is quick
    return [first] + tasks


@pytest.mark.asyncio
async def test_redis_sigstop_moves_queued_requests_in_process_once_each(redis_server,
                                                                        ollama):
    orphans = []
    async with node(make_settings(redis_server, ollama), orphans) as sched:
        tasks = await first_running_rest_queued(sched, ollama, redis_server.url)
        redis_server.pause()
        try:
            outcomes = await asyncio.wait_for(
                asyncio.gather(*tasks, return_exceptions=True), BOUND_S)
            during = texts(ollama)
        finally:
            redis_server.resume()
        await settled(redis_server.url, sched)
        after = await sched.submit(req('after the pause'))
    assert [type(o).__name__ for o in outcomes] == ['LLMResult'] * len(tasks)  # none expired
    assert all(o.answer.reply for o in outcomes) and after.answer.reply
    assert during == ['first'] + IN_PRIORITY_ORDER  # the worker's call, then most urgent first
    assert texts(ollama) == during + ['after the pause']  # no moved request ran again
    assert orphans == []  # nothing answered a second time from a late Redis result


@pytest.mark.asyncio
async def test_requests_sent_while_redis_is_paused_are_answered_once(redis_server, ollama):
    orphans = []
    async with node(make_settings(redis_server, ollama), orphans) as sched:
        await sched.submit(req('before'))
        redis_server.pause()
        try:
            # Redis takes these queueing calls into its socket buffers and runs them once
            # it is resumed: the moved requests must not be queued (or answered) again.
            outcomes = await asyncio.wait_for(asyncio.gather(
                *(sched.submit(req('paused %d' % i)) for i in range(4)),
                return_exceptions=True), BOUND_S)
        finally:
            redis_server.resume()
        await settled(redis_server.url, sched)
        after = await sched.submit(req('after the pause'))
    assert [type(o).__name__ for o in outcomes] == ['LLMResult'] * 4
    assert after.answer.reply
    counts = collections.Counter(texts(ollama))
    assert [counts['paused %d' % i] for i in range(4)] == [1] * 4
    assert orphans == []


@pytest.mark.asyncio
async def test_redis_sigkill_and_restart_loses_and_repeats_nothing(redis_server, ollama):
    orphans = []
    async with node(make_settings(redis_server, ollama), orphans) as sched:
        tasks = await first_running_rest_queued(sched, ollama, redis_server.url)
        redis_server.kill()
        outcomes = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True),
                                          BOUND_S)
        redis_server.start()  # empty: it runs without persistence
        await settled(redis_server.url, sched)
        after = await sched.submit(req('after the restart'))
        admin = make_redis(redis_server.url)
        try:
            published = (await admin.xinfo_stream(KEYS.results(ORIGIN)))['entries-added']
        finally:
            await admin.aclose()
    assert [type(o).__name__ for o in outcomes] == ['LLMResult'] * len(tasks)
    assert texts(ollama) == ['first'] + IN_PRIORITY_ORDER + ['after the restart']
    assert published == 1 and after.answer.reply  # through the streams again
    assert orphans == []


@pytest.mark.asyncio
async def test_a_later_life_of_the_node_finds_no_moved_request(redis_server, ollama):
    orphans = []
    settings = make_settings(redis_server, ollama)
    async with node(settings, orphans) as sched:
        tasks = await first_running_rest_queued(sched, ollama, redis_server.url)
        redis_server.pause()
        try:
            await asyncio.wait_for(asyncio.gather(*tasks), BOUND_S)
        finally:
            redis_server.resume()
        await settled(redis_server.url, sched)
    async with node(settings, orphans) as restarted:
        after = await restarted.submit(req('next life'))
    assert after.answer.reply and orphans == []
    assert texts(ollama) == ['first'] + IN_PRIORITY_ORDER + ['next life']


@pytest.mark.asyncio
async def test_one_slow_results_read_with_redis_answering_is_no_outage(redis_server, ollama,
                                                                       caplog):
    """A results read held past its bound (a busy loop) while Redis answers PINGs.

    Only the read is slowed (a wrapper on the real client); the node must not call it a
    stall: the request stays in Redis, its worker's answer is read again, the LLM answers
    it once.
    """
    orphans = []
    async with node(make_settings(redis_server, ollama), orphans) as sched:
        blocking = sched.redis.blocking
        real_read = blocking.xreadgroup
        held = []

        async def slow_once(*args, **kwargs):
            if not held:
                held.append(time.monotonic())
                await asyncio.sleep(sched.redis.block_s + sched.redis.stall_s + 1.0)
            return await real_read(*args, **kwargs)

        blocking.xreadgroup = slow_once
        ollama.set_script([{'match': 'held', 'delay_s': 0.5}])
        with caplog.at_level('INFO', logger='claudia_llm'):
            result = await asyncio.wait_for(sched.submit(req('held')), BOUND_S)
    assert held and result.answer.reply
    assert texts(ollama) == ['held'] and orphans == []
    messages = [r.getMessage() for r in caplog.records]
    assert any('answers a PING: a busy process, not a stall' in m for m in messages)
    assert not any('switched from redis to memory' in m for m in messages), messages
