"""RedisWatch: one slow PING is a held-up event loop, two in a row (or a refusal) an outage.

The PING is a stand-in coroutine here so the timing is exact; the real SIGSTOP and SIGKILL
cases run against redis-server in test/integration/test_scheduler_redis_outage.py.
"""
import asyncio

from redis.exceptions import ConnectionError as RedisConnectionError

from claudia_llm.core.llm.scheduler.redis_watch import RedisWatch


class Pings:
    """``ping()`` that answers after ``delays[i]`` s (or raises ``delays[i]``), then at once."""

    def __init__(self, *delays):
        self.delays = list(delays)

    async def ping(self):
        step = self.delays.pop(0) if self.delays else 0.0
        if isinstance(step, BaseException):
            raise step
        await asyncio.sleep(step)
        return True


def run_checks(redis, checks):
    lost, back = [], []

    async def on_lost(exc):
        lost.append(type(exc).__name__)

    async def on_back():
        back.append(True)
        return True

    async def main():
        watch = RedisWatch(redis, 0.05, on_lost, on_back)
        for _ in range(checks):
            await watch.check()
        return watch
    return asyncio.run(main()), lost, back


def test_one_slow_ping_is_not_an_outage():
    watch, lost, back = run_checks(Pings(0.2, 0.0, 0.2, 0.0), 4)
    assert lost == [] and back == [] and not watch.down and watch.misses == 0


def test_two_slow_pings_in_a_row_are_an_outage_and_an_answer_ends_it():
    watch, lost, back = run_checks(Pings(0.2, 0.2, 0.0), 3)
    assert lost == ['BudgetExceeded'] and back == [True] and not watch.down
    assert watch.outages == 1


def test_a_refused_connection_is_an_outage_at_once():
    watch, lost, _ = run_checks(Pings(RedisConnectionError('refused')), 1)
    assert lost == ['ConnectionError'] and watch.down
