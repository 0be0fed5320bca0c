"""Migration: requests waiting on Redis move in process most urgent first, once each.

The Redis side is a stand-in with the attributes ``Migration`` uses; the in-process
scheduler is the real one over an LLM stand-in that records its calls. The same cases
against a real redis-server: test/integration/test_scheduler_redis_outage.py.
"""
import asyncio
import time

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from claudia_llm.core.errors import RequestCancelled
from claudia_llm.core.llm.scheduler import keys as K
from claudia_llm.core.llm.scheduler.inprocess import InProcessScheduler
from claudia_llm.core.llm.scheduler.migration import Migration
from claudia_llm.core.llm.scheduler.redis_results import RedisLost
from claudia_llm.core.llm.scheduler.request import LLMRequest


class RecordingLLM:
    model = 'fake-model'

    def __init__(self):
        self.calls = []

    async def chat(self, text, on_chunk=None):
        self.calls.append(text)
        await asyncio.sleep(0)
        return 'answer to ' + text


class FakePipeline:
    def __init__(self, redis):
        self.redis, self.commands = redis, []

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return False

    def set(self, key, value, px):
        self.commands.append(('set', key, px))

    def hdel(self, key, field):
        self.commands.append(('hdel', key, field))

    async def execute(self):
        if self.redis.down:
            raise RedisConnectionError('Connection refused')
        self.redis.executed.extend(self.commands)


class FakeRedis:
    def __init__(self):
        self.down, self.executed = True, []

    def pipeline(self, transaction=False):
        return FakePipeline(self)


class FakeRedisScheduler:
    """What Migration reads and calls on a RedisScheduler."""

    def __init__(self):
        self._waiters, self._listeners, self.answered = {}, {}, []
        self.available = False
        self.redis, self.keys, self.origin = FakeRedis(), K.Keys('claudia'), 'node'

    def wait(self, request):
        future = asyncio.get_running_loop().create_future()
        self._waiters[request.ticket] = (request, future)
        return future

    def _remember_answered(self, ticket):
        self.answered.append(ticket)


def request(text, priority, created, ticket=None):
    return LLMRequest(request_id=text, text=text, priority=priority, created=created,
                      deadline_s=60.0, ticket=ticket or 't-' + text)


@pytest.fixture
def parts():
    llm = RecordingLLM()
    inprocess = InProcessScheduler(llm, max_in_flight=1, queue_size=16)
    redis = FakeRedisScheduler()
    return llm, inprocess, redis, Migration(lambda: redis, inprocess)


@pytest.mark.asyncio
async def test_move_all_goes_most_urgent_first_and_answers_each_once(parts):
    llm, inprocess, redis, migration = parts
    now = time.time()
    waiting = [request('low old', 'low', now - 3), request('normal new', 'normal', now - 1),
               request('high new', 'high', now - 1), request('normal old', 'normal', now - 2),
               request('high old', 'high', now - 2)]
    futures = [redis.wait(r) for r in waiting]
    assert migration.move_all() == 5
    assert migration.move_all() == 0  # moved once
    for future in futures:
        with pytest.raises(RedisLost):
            future.result()
    outcomes = await asyncio.gather(*(migration.follow(r) for r in waiting))
    assert llm.calls == ['high old', 'high new', 'normal old', 'normal new', 'low old']
    assert outcomes == ['answer to ' + r.text for r in waiting]
    assert sorted(redis.answered) == sorted(r.ticket for r in waiting)  # late results dropped
    assert migration.tombstones() == 5


@pytest.mark.asyncio
async def test_follow_while_redis_is_down_moves_the_others_too(parts):
    llm, inprocess, redis, migration = parts
    now = time.time()
    other = request('other', 'high', now - 1)
    redis.wait(other)
    lost = request('lost', 'normal', now - 2)  # its own Redis call failed: not a waiter
    assert await migration.follow(lost) == 'answer to lost'
    assert migration.moved(other)
    assert await migration.follow(other) == 'answer to other'
    assert llm.calls == ['other', 'lost']


@pytest.mark.asyncio
async def test_while_redis_is_up_only_the_refused_request_moves(parts):
    llm, inprocess, redis, migration = parts
    redis.available = True
    waiting = request('still in redis', 'high', time.time())
    redis.wait(waiting)
    assert await migration.follow(request('refused', 'low', time.time())) == 'answer to refused'
    assert not migration.moved(waiting) and llm.calls == ['refused']


@pytest.mark.asyncio
async def test_tombstones_wait_for_redis_then_mark_each_ticket_dropped(parts):
    llm, inprocess, redis, migration = parts
    moved = request('moved', 'normal', time.time())
    redis.wait(moved)
    migration.move_all()
    await migration.follow(moved)
    assert not await migration.write_tombstones(1.0)  # Redis still down: kept
    assert migration.tombstones() == 1
    redis.redis.down = False
    assert await migration.write_tombstones(1.0)
    assert migration.tombstones() == 0
    (verb, key, ttl_ms), hdel = redis.redis.executed
    assert (verb, key) == ('set', 'claudia:llm:drop:t-moved') and ttl_ms > 60000
    assert hdel == ('hdel', 'claudia:llm:inflight:node', 't-moved')


@pytest.mark.asyncio
async def test_discard_cancels_a_twin_nobody_follows(parts):
    llm, inprocess, redis, migration = parts
    moved = request('cancelled meanwhile', 'normal', time.time())
    redis.wait(moved)
    migration.move_all()
    task = migration._moved[moved.ticket]
    migration.discard(moved)
    with pytest.raises((asyncio.CancelledError, RequestCancelled)):
        await task
    assert not migration.moved(moved)


class FakeWorker:
    def __init__(self):
        self.events = []

    async def start(self):
        self.events.append('start')

    async def stop(self, drain_s=5.0):
        self.events.append(('stop', drain_s))


@pytest.mark.asyncio
async def test_workers_pause_once_and_resume_only_when_allowed():
    from claudia_llm.core.llm.scheduler.worker_pause import WorkerPause
    worker, allowed = FakeWorker(), []
    pause = WorkerPause([worker], lambda: bool(allowed))
    pause.pause_soon('answered in process')
    pause.pause_soon('answered in process')
    await pause.aclose()
    await pause.pause('Redis stalled')
    assert worker.events == [('stop', 0.0)] and pause.paused
    assert not await pause.resume_if_allowed()  # in-process work left: stay paused
    allowed.append(True)
    assert await pause.resume_if_allowed()
    assert worker.events == [('stop', 0.0), 'start'] and not pause.paused
