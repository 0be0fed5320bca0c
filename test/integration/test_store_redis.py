"""FailoverStore and ExactCache against a real redis-server, including an outage."""
import asyncio

import pytest

from claudia_llm.core.cache.exact import ExactCache
from claudia_llm.core.cache.store import FailoverStore, MemoryStore
from claudia_llm.core.record import Action, Answer
from claudia_llm.core.redis_conn import make_redis

SIT = Answer('座ります', [Action('Sit', 1009)], kind='command')


def fresh_store(url, retry_interval_s=0.05):
    return FailoverStore(make_redis(url, socket_timeout_s=0.3, connect_timeout_s=0.3),
                         retry_interval_s=retry_interval_s)


@pytest.mark.asyncio
async def test_entries_persist_in_redis_across_store_instances(redis_server):
    first = ExactCache(fresh_store(redis_server.url), 'qwen2.5:7b', 'p1', ttl_s=60)
    key = await first.store_answer('座って', SIT)
    second = ExactCache(fresh_store(redis_server.url), 'qwen2.5:7b', 'p1', ttl_s=60)
    hit = await second.check('座って')
    assert hit is not None and hit.answer == SIT and hit.key == key
    ttl = await second.store.redis.ttl(key)
    assert 0 < ttl <= 60


@pytest.mark.asyncio
async def test_model_and_prompt_version_are_part_of_the_key(redis_server):
    store = fresh_store(redis_server.url)
    await ExactCache(store, 'qwen2.5:7b', 'p1').store_answer('sit', SIT)
    assert await ExactCache(store, 'qwen2.5:3b', 'p1').check('sit') is None
    assert await ExactCache(store, 'qwen2.5:7b', 'p2').check('sit') is None


@pytest.mark.asyncio
async def test_lexicon_entries_never_expire(redis_server):
    cache = ExactCache(fresh_store(redis_server.url), 'm', 'p', ttl_s=5)
    key = await cache.store_answer('お座り', SIT, source='lexicon')
    assert await cache.store.redis.ttl(key) == -1


@pytest.mark.asyncio
async def test_outage_serves_memory_and_replays_writes_when_redis_returns(redis_server):
    store = fresh_store(redis_server.url)
    await store.set('claudia:t:before', b'1')
    redis_server.stop()
    # Still served (memory mirror), and a new write is accepted while Redis is down.
    assert await store.get('claudia:t:before') == b'1'
    await store.set('claudia:t:during', b'2', ttl_s=60)
    await store.hset('claudia:t:hash', {'f': b'v'})
    assert not store.redis_up
    redis_server.start()
    await asyncio.sleep(0.1)
    assert await store.ping()
    assert store.redis_up
    other = fresh_store(redis_server.url)
    other.memory = MemoryStore()
    assert await other.get('claudia:t:during') == b'2'
    assert await other.hgetall('claudia:t:hash') == {'f': b'v'}


@pytest.mark.asyncio
async def test_corrupt_entry_is_a_miss_and_is_removed(redis_server):
    cache = ExactCache(fresh_store(redis_server.url), 'm', 'p')
    await cache.store.redis.set(cache.key('sit'), b'{not json')
    assert await cache.check('sit') is None
    assert await cache.store.redis.exists(cache.key('sit')) == 0


def test_negative_ttl_is_refused():
    with pytest.raises(ValueError, match='ttl_s'):
        ExactCache(FailoverStore(None), 'm', 'p', ttl_s=-1)


def budgeted_store(url, budget_s=0.02):
    return FailoverStore(make_redis(url, socket_timeout_s=0.3, connect_timeout_s=0.3),
                         retry_interval_s=0.05, budget_s=budget_s)


@pytest.mark.asyncio
async def test_paused_redis_opens_the_breaker_and_memory_answers(redis_server):
    store = budgeted_store(redis_server.url)
    await store.set('claudia:t:known', b'1')
    assert store.breaker == 'closed'
    redis_server.pause()
    try:
        assert await store.get('claudia:t:known') == b'1'  # memory, no Redis call
        assert await store.get('claudia:t:unknown') is None  # cut at the budget
        assert store.budget_misses == 1 and store.breaker in ('open', 'half_open')
        await store.set('claudia:t:during', b'2')  # remembered for replay
        assert store.budget_misses == 1  # the breaker is open: no second wait
        assert store.status()['budget_misses'] == 1
    finally:
        redis_server.resume()
    assert await store.ping() and store.breaker == 'closed'
    # The connection cut mid-command was dropped, not reused: no reply is off by one.
    await store.redis.set('claudia:t:a', b'A')
    assert await store.redis.get('claudia:t:a') == b'A'
    assert await store.redis.get('claudia:t:during') == b'2'  # replayed


@pytest.mark.asyncio
async def test_refused_connection_opens_the_breaker_and_a_probe_closes_it(redis_server):
    store = budgeted_store(redis_server.url, budget_s=0.5)
    redis_server.stop()
    assert await store.get('claudia:t:x') is None
    assert store.breaker in ('open', 'half_open') and store.budget_misses == 0
    await store.set('claudia:t:x', b'x')
    redis_server.start()
    for _ in range(100):  # background probes every retry_interval_s
        if store.breaker == 'closed':
            break
        await store.get('claudia:t:other')
        await asyncio.sleep(0.05)
    assert store.breaker == 'closed'
    assert await store.redis.get('claudia:t:x') == b'x'


def negative_store(url):
    return FailoverStore(make_redis(url, socket_timeout_s=0.3, connect_timeout_s=0.3),
                         retry_interval_s=0.05, change_key='claudia:t:cachetok',
                         negative_ttl_s=60.0)


async def redis_reads(client) -> int:
    """GET + HGETALL commands the server has run so far (INFO commandstats)."""
    stats = await client.info('commandstats')
    return sum(stats.get('cmdstat_%s' % c, {}).get('calls', 0) for c in ('get', 'hgetall'))


async def eventually(check, budget_s=10.0):
    """Poll the async ``check`` until it returns true or ``budget_s`` passed; its last value."""
    loop = asyncio.get_event_loop()
    end = loop.time() + budget_s
    while True:
        value = await check()
        if value or loop.time() >= end:
            return value
        await asyncio.sleep(0.05)


@pytest.mark.asyncio
@pytest.mark.parametrize('kind', ['bytes', 'hash'])
async def test_a_key_redis_lacks_is_asked_once_until_another_store_writes_it(redis_server,
                                                                            kind):
    reader, writer = negative_store(redis_server.url), negative_store(redis_server.url)
    read = reader.get if kind == 'bytes' else reader.hgetall
    reader.negative.check_s = 3600.0  # no background token GET while reads are counted
    assert await read('claudia:t:k') is None
    before = await redis_reads(reader.redis)
    for _ in range(5):
        assert await read('claudia:t:k') is None
    assert await redis_reads(reader.redis) == before  # answered from the negative cache
    assert reader.negative.skipped == 5
    if kind == 'bytes':
        await writer.set('claudia:t:k', b'v')
        expected = b'v'
    else:
        await writer.hset('claudia:t:k', {'f': b'v'})
        expected = {'f': b'v'}
    # The writer bumped the change token; the reader's background check drops its memo.
    reader.negative.check_s = 0.05
    assert await eventually(lambda: read('claudia:t:k')) == expected


@pytest.mark.asyncio
async def test_without_a_change_key_every_miss_asks_redis(redis_server):
    store = fresh_store(redis_server.url)
    assert await store.get('claudia:t:k') is None
    before = await redis_reads(store.redis)
    for _ in range(3):
        assert await store.get('claudia:t:k') is None
    assert await redis_reads(store.redis) == before + 3


@pytest.mark.asyncio
async def test_an_outage_drops_the_negative_cache(redis_server):
    store = negative_store(redis_server.url)
    assert await store.get('claudia:t:k') is None
    assert len(store.negative) == 1
    redis_server.stop()
    assert await store.ping() is False
    assert len(store.negative) == 0
    redis_server.start()
    await negative_store(redis_server.url).set('claudia:t:k', b'v')
    assert await eventually(lambda: store.get('claudia:t:k')) == b'v'
