"""MemoryStore and FailoverStore without Redis (memory only)."""
import asyncio

import pytest

from claudia_llm.core.cache.store import FailoverStore, MemoryStore, require_redis
from claudia_llm.core.errors import StoreUnavailable


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_ttl_is_absolute_and_not_refreshed_by_reads():
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    store.set('k', b'v', ttl_s=10)
    clock.now += 6
    assert store.get('k') == b'v'
    clock.now += 5
    assert store.get('k') is None


def test_lru_eviction_beyond_max_entries():
    store = MemoryStore(max_entries=2)
    store.set('a', b'1')
    store.set('b', b'2')
    store.get('a')
    store.set('c', b'3')
    assert store.get('b') is None
    assert store.get('a') == b'1' and store.get('c') == b'3'


def test_max_entries_must_be_positive():
    with pytest.raises(ValueError, match='max_entries'):
        MemoryStore(max_entries=0)


@pytest.mark.asyncio
async def test_failover_store_without_redis_serves_from_memory():
    store = FailoverStore(None)
    await store.set('claudia:x:1', b'one', ttl_s=60)
    await store.hset('claudia:x:2', {'f': b'v'})
    assert await store.get('claudia:x:1') == b'one'
    assert await store.hgetall('claudia:x:2') == {'f': b'v'}
    assert sorted(await store.keys('claudia:x:')) == ['claudia:x:1', 'claudia:x:2']
    await store.delete('claudia:x:1')
    assert await store.get('claudia:x:1') is None
    assert not store.redis_up
    with pytest.raises(StoreUnavailable):
        require_redis(store)


def test_a_call_past_its_budget_raises_budget_exceeded_and_is_counted():
    from claudia_llm.core.redis_conn import REDIS_DOWN_ERRORS, BudgetExceeded

    async def run():
        store = FailoverStore(None, budget_s=0.01)
        with pytest.raises(BudgetExceeded):
            await store.call(asyncio.sleep(5))
        assert await store.call(asyncio.sleep(0, result='ok')) == 'ok'
        return store

    store = asyncio.run(run())
    assert issubclass(BudgetExceeded, REDIS_DOWN_ERRORS)
    assert store.status() == {'breaker': 'open', 'budget_misses': 1}
