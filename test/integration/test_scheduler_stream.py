"""Streamed answers through the Redis streams: partial entries before the result.

Two submitters (origins ``a`` and ``b``) share one Redis and the in-node worker of ``a``;
the Ollama test server streams at Orin-like rates. A request of ``b`` that joins ``a``'s
call while it streams (coalescing) first gets what was already said, then the rest; the
partial entries never stand in for the result.
"""
import asyncio
import contextlib
import json

import pytest

from claudia_llm.core import build
from claudia_llm.core import settings as settings_mod
from claudia_llm.core.config import config_from
from claudia_llm.core.errors import RequestCancelled
from claudia_llm.core.llm.scheduler import LLMRequest
from claudia_llm.core.llm.scheduler import keys as K
from claudia_llm.core.llm.scheduler.events import events_from_json, events_to_json
from claudia_llm.core.llm.stream_parse import StreamEvents
from claudia_llm.core.record import Action
from claudia_llm.core.redis_conn import make_redis
from claudia_llm.testing.ollama_server import OllamaTestServer

pytestmark = pytest.mark.timeout(60)
BOUND_S = 20.0
REPLY = 'Hello there. I am glad you came. Let me wave once more. Bye for now!'
SCRIPT = [{'regex': '^wave at', 'content': {'actions': [{'name': 'Hello'}], 'reply': REPLY,
                                           'kind': 'command'}}]


@pytest.fixture
def ollama():
    server = OllamaTestServer(slots=1, script=SCRIPT, timing='rates', prompt_tps=400.0,
                              eval_tps=25.0)
    server.start()
    yield server
    server.stop()


def config(redis_server, ollama, worker):
    values = settings_mod.defaults('llm_node')
    values.update({'redis.url': redis_server.url, 'ollama.host': ollama.url,
                   'ollama.warmup': False, 'ollama.timeout_s': 20.0,
                   'scheduler.in_node_worker': worker})
    return config_from(values)


@contextlib.asynccontextmanager
async def node(cfg, origin):
    llm = build.make_llm(cfg)
    redis = make_redis(cfg.redis.url)
    blocking = make_redis(cfg.redis.url, for_blocking_reads=True, block_s=1.0)
    sched = build.make_scheduler(cfg, llm, redis, blocking, origin=origin)
    await sched.start()
    try:
        yield sched, redis
    finally:
        await sched.aclose()
        await llm.aclose()
        await redis.aclose()
        await blocking.aclose()


class Collect:
    def __init__(self):
        self.actions, self.pieces, self.first = [], [], asyncio.Event()

    def __call__(self, events):
        if events.actions is not None:
            self.actions.append([a.name for a in events.actions])
            self.first.set()
        self.pieces.extend(events.pieces)


def test_events_wire_form_round_trips():
    events = StreamEvents(actions=[Action('Move', 1008, {'x': 0.5})], pieces=['はい。'],
                          actions_error='')
    text = events_to_json(events)
    assert 'はい' in text and events_from_json(text.encode('utf-8')) == events
    assert events_from_json(json.dumps({'actions': None})).actions is None


@pytest.mark.asyncio
async def test_a_follower_that_joins_mid_stream_gets_what_was_said_then_the_rest(
        redis_server, ollama):
    async with node(config(redis_server, ollama, True), 'a') as (a, redis), \
            node(config(redis_server, ollama, False), 'b') as (b, _r):
        assert a.mode == 'redis' and b.mode == 'redis'
        first, joined = Collect(), Collect()
        task_a = asyncio.ensure_future(a.submit(LLMRequest('ra', 'wave at the door'),
                                                on_event=first))
        await asyncio.wait_for(first.first.wait(), BOUND_S)
        task_b = asyncio.ensure_future(b.submit(LLMRequest('rb', 'wave at the door'),
                                                on_event=joined))
        result_a, result_b = await asyncio.wait_for(asyncio.gather(task_a, task_b), BOUND_S)
        assert result_a.answer.reply == result_b.answer.reply == REPLY
        assert first.actions == joined.actions == [['Hello']]
        assert first.pieces == joined.pieces == [
            'Hello there.', 'I am glad you came.', 'Let me wave once more.', 'Bye for now!']
        assert len([e for e in ollama.requests() if e['messages']]) == 1  # one call
        # partial entries are acknowledged and deleted like results
        for origin in ('a', 'b'):
            stream = K.Keys('claudia').results(origin)
            for _ in range(500):
                if await redis.xlen(stream) == 0:
                    break
                await asyncio.sleep(0.01)
            assert await redis.xlen(stream) == 0


@pytest.mark.asyncio
async def test_a_request_without_on_event_gets_no_partial_entries(redis_server, ollama):
    async with node(config(redis_server, ollama, True), 'a') as (a, redis):
        result = await asyncio.wait_for(a.submit(LLMRequest('r1', 'wave at me')), BOUND_S)
        assert result.answer.reply == REPLY
        info = await redis.xinfo_stream(K.Keys('claudia').results('a'))
        assert info['entries-added'] == 1, 'only the result'


@contextlib.asynccontextmanager
async def remote_worker(cfg, name):
    """An ``LLMWorker`` as ``claudia-llm worker`` runs it: not in any node's process."""
    llm = build.make_llm(cfg)
    redis = make_redis(cfg.redis.url)
    blocking = make_redis(cfg.redis.url, for_blocking_reads=True, block_s=1.0)
    worker = build.make_worker(cfg, llm, redis, blocking, name)
    await worker.start()
    try:
        yield worker
    finally:
        await worker.stop()
        await llm.aclose()
        await redis.aclose()
        await blocking.aclose()


@pytest.mark.asyncio
@pytest.mark.parametrize('where', ['in_node', 'remote'])
async def test_cancel_before_stops_the_workers_call_while_it_streams(redis_server, ollama,
                                                                     where):
    """In node the worker is told at once; a remote one notices the stamp in Redis."""
    in_node = where == 'in_node'
    async with contextlib.AsyncExitStack() as stack:
        a, _redis = await stack.enter_async_context(
            node(config(redis_server, ollama, in_node), 'a'))
        if not in_node:
            await stack.enter_async_context(
                remote_worker(config(redis_server, ollama, False), 'remote-1'))
        seen = Collect()
        task = asyncio.ensure_future(a.submit(LLMRequest('r1', 'wave at the sky'),
                                              on_event=seen))
        await asyncio.wait_for(seen.first.wait(), BOUND_S)
        a.cancel_before(1e12)
        with pytest.raises(RequestCancelled):
            await task
        entry = [e for e in ollama.requests() if e['messages']][-1]
        for _ in range(300):
            if entry['outcome'] != 'pending':
                break
            await asyncio.sleep(0.01)
            entry = [e for e in ollama.requests() if e['messages']][-1]
        assert entry['outcome'] in ('cancelled', 'disconnected')
        assert len(seen.pieces) < 4  # it stopped before the end of the reply
        for _ in range(300):  # the worker's slot is free again
            if ollama.stats()['in_service'] == 0:
                break
            await asyncio.sleep(0.01)
        assert ollama.stats()['in_service'] == 0
