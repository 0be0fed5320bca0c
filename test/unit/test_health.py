"""core.health.HealthMonitor with probe coroutines of its own interface (no network here;
the real Ollama and Redis probes are tested in test/integration/test_health_probes.py)."""
import asyncio
import threading
import time

import pytest

from claudia_llm.core.health import HealthMonitor, safe_url


class Probe:
    """A probe whose answers the test sets; counts calls, can hang until cancelled."""

    def __init__(self, ok=True, message='fine'):
        self.answer = (ok, message)
        self.calls = 0
        self.hang = False
        self.cancelled = threading.Event()

    async def __call__(self):
        self.calls += 1
        if self.hang:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
        return self.answer


def wait_until(predicate, timeout_s=10.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    pytest.fail('condition not met within %.0f s' % timeout_s)


@pytest.mark.asyncio
async def test_probe_once_stores_results_with_the_clock_time():
    up, down = Probe(True, 'ok; PING'), Probe(False, 'ConnectionError: refused')
    monitor = HealthMonitor({'redis': up, 'ollama': down}, period_s=1.0, clock=lambda: 42.0)
    assert monitor.results()['redis'].ok is None
    results = await monitor.probe_once()
    assert results['redis'] == (True, 'ok; PING', 42.0)
    assert results['ollama'] == (False, 'ConnectionError: refused', 42.0)
    assert monitor.results() == results


@pytest.mark.asyncio
async def test_a_probe_that_raises_is_reported_not_propagated():
    async def broken():
        raise RuntimeError('boom')
    results = await HealthMonitor({'x': broken}, period_s=1.0).probe_once()
    assert results['x'].ok is False and 'RuntimeError: boom' in results['x'].message


def test_thread_probes_repeatedly_and_follows_changes():
    probe = Probe(True)
    monitor = HealthMonitor({'redis': probe}, period_s=0.02)
    monitor.start()
    try:
        wait_until(lambda: monitor.rounds >= 3)
        assert monitor.results()['redis'].ok is True
        probe.answer = (False, 'down')
        wait_until(lambda: monitor.results()['redis'].ok is False)
    finally:
        assert monitor.stop(timeout_s=5.0)


def test_stop_cancels_a_hanging_round():
    probe = Probe()
    probe.hang = True
    monitor = HealthMonitor({'ollama': probe}, period_s=60.0)
    monitor.start()
    wait_until(lambda: probe.calls == 1)
    assert monitor.stop(timeout_s=5.0)
    assert probe.cancelled.is_set()


def test_stop_before_start_and_double_start():
    monitor = HealthMonitor({'x': Probe()}, period_s=1.0)
    assert monitor.stop()
    monitor = HealthMonitor({'x': Probe()}, period_s=1.0)
    monitor.start()
    with pytest.raises(RuntimeError):
        monitor.start()
    assert monitor.stop()


def test_period_must_be_positive():
    with pytest.raises(ValueError):
        HealthMonitor({}, period_s=0.0)


def test_safe_url_hides_credentials():
    assert safe_url('redis://user:secret@10.0.0.2:6379/0') == 'redis://***@10.0.0.2:6379/0'
    assert safe_url('redis://127.0.0.1:6379/0') == 'redis://127.0.0.1:6379/0'
