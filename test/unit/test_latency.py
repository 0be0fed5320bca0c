"""core.latency: percentiles against numpy, window eviction on a fake clock, rates, parsing."""
import json
import math

import numpy as np
import pytest

from claudia_llm.core.latency import LatencyWindow, sample_from_record
from claudia_llm.core.record import SOURCES, ResponseRecord


class FakeClock:
    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now


def test_percentiles_match_numpy_per_source():
    rng = np.random.default_rng(7)
    data = {'llm': rng.uniform(800.0, 3200.0, 97), 'exact': rng.exponential(2.0, 41)}
    window = LatencyWindow(60.0, clock=FakeClock())
    for source, values in data.items():
        for value in values:
            window.add(source, value, None)
    stats = window.stats()
    for source, values in data.items():
        p50, p95, p99 = np.percentile(values, [50, 95, 99])
        assert stats[source].p50_ms == pytest.approx(p50)
        assert stats[source].p95_ms == pytest.approx(p95)
        assert stats[source].p99_ms == pytest.approx(p99)
        assert stats[source].max_ms == pytest.approx(values.max())
        assert stats[source].samples == len(values)
    assert stats['semantic'].samples == 0 and math.isnan(stats['semantic'].p95_ms)


def test_every_known_source_is_reported_and_unknown_ones_too():
    window = LatencyWindow(10.0, clock=FakeClock())
    window.add('cache_v2', 3.0)
    assert list(window.stats()) == list(SOURCES) + ['cache_v2']
    assert window.summary().counts['cache_v2'] == 1


def test_old_samples_are_evicted():
    clock = FakeClock()
    window = LatencyWindow(10.0, clock=clock)
    window.add('llm', 5000.0)
    clock.now += 6.0
    window.add('llm', 100.0)
    window.add('llm', 300.0)
    assert window.stats()['llm'].max_ms == 5000.0
    clock.now += 4.5  # the first sample is now 10.5 s old
    stats = window.stats()['llm']
    assert (stats.samples, stats.max_ms, stats.p50_ms) == (2, 300.0, 200.0)
    clock.now += 10.0
    assert window.stats()['llm'].samples == 0
    assert window.summary().total == 0


def test_unknown_source_disappears_once_its_samples_expire():
    clock = FakeClock()
    window = LatencyWindow(1.0, clock=clock)
    window.add('other', 1.0)
    clock.now += 2.0
    assert 'other' not in window.stats()


def test_memory_is_bounded_per_source():
    window = LatencyWindow(3600.0, clock=FakeClock(), max_samples=50)
    for value in range(500):
        window.add('exact', float(value))
    stats = window.stats()['exact']
    assert stats.samples == 50
    assert stats.p50_ms == pytest.approx(np.percentile(np.arange(450, 500), 50))


def test_error_rate_hit_rates_and_error_codes():
    window = LatencyWindow(60.0, clock=FakeClock())
    plan = [('exact', None)] * 6 + [('semantic', None)] * 2 + [('llm', None)] * 3 + \
        [('llm', 'llm_timeout')] * 2 + [('fallback', 'llm_unavailable')]
    for source, code in plan:
        window.add(source, 10.0, code)
    summary = window.summary()
    total = len(plan)
    errors = sum(1 for _, code in plan if code)
    assert summary.total == total
    assert summary.errors == errors
    assert summary.error_rate == pytest.approx(errors / total)
    for source in SOURCES:
        expected = sum(1 for s, _ in plan if s == source)
        assert summary.counts[source] == expected
        assert summary.hit_rates[source] == pytest.approx(expected / total)
    assert summary.cache_hit_rate == pytest.approx(8 / total)
    assert summary.error_codes == {'llm_timeout': 2, 'llm_unavailable': 1}
    assert window.stats()['llm'].errors == 2


def test_empty_window_has_zero_rates():
    summary = LatencyWindow(5.0).summary()
    assert (summary.total, summary.error_rate, summary.cache_hit_rate) == (0, 0.0, 0.0)
    assert set(summary.hit_rates.values()) == {0.0}


@pytest.mark.parametrize('bad', [-1.0, float('nan'), float('inf')])
def test_add_rejects_impossible_latency(bad):
    with pytest.raises(ValueError, match='total_ms'):
        LatencyWindow(5.0).add('llm', bad)


@pytest.mark.parametrize('kwargs', [{'window_s': 0.0}, {'window_s': 1.0, 'max_samples': 0}])
def test_constructor_rejects_non_positive_sizes(kwargs):
    with pytest.raises(ValueError):
        LatencyWindow(**kwargs)


def test_sample_from_a_real_record():
    record = ResponseRecord(request_id='r1', utterance='おすわり', source='semantic',
                            latency_ms={'total': 12.3456, 'embed': 8.0})
    assert sample_from_record(record.to_json()) == ('semantic', 12.346, None)
    record.set_error('llm_timeout', 'no answer in 8 s')
    assert sample_from_record(record.to_json())[2] == 'llm_timeout'


@pytest.mark.parametrize('text', [
    'not json', '[1, 2]', json.dumps({'source': 'llm'}),
    json.dumps({'source': 'llm', 'latency_ms': {'total': 'fast'}}),
    json.dumps({'source': 'llm', 'latency_ms': {'total': True}}),
    json.dumps({'source': '', 'latency_ms': {'total': 1.0}}),
    json.dumps({'latency_ms': {'total': 1.0}}),
    '[' * 100000 + ']' * 100000,
])
def test_sample_from_malformed_record_raises_value_error(text):
    with pytest.raises(ValueError):
        sample_from_record(text)


def test_queue_depth_is_read_from_records_and_defaults_when_absent():
    from claudia_llm.core.latency import queue_depth_of
    assert queue_depth_of('{"queue_depth": 3}') == 3
    assert queue_depth_of('{"source": "llm"}', 5) == 5
    assert queue_depth_of('not json', 2) == 2
    assert queue_depth_of('{"queue_depth": true}') == 0


def test_redis_status_of_a_record_is_text_and_ignores_bad_shapes():
    from claudia_llm.core.latency import redis_status_of
    good = json.dumps({'redis': {'breaker': 'half_open', 'budget_misses': 3}})
    assert redis_status_of(good) == {'breaker': 'half_open', 'budget_misses': '3'}
    last = {'breaker': 'closed', 'budget_misses': '0'}
    for bad in ('{not json', '{}', json.dumps({'redis': {'breaker': 'ajar'}}), '[1]'):
        assert redis_status_of(bad, last) == last
