"""core.diagnostics: levels, values and names of the reports diagnostics_node publishes."""
import numpy as np
import pytest

from claudia_llm.core import diagnostics as d
from claudia_llm.core.health import HealthResult
from claudia_llm.core.latency import LatencyWindow


def filled_window(llm_ms, exact_ms):
    window = LatencyWindow(30.0, clock=lambda: 0.0)
    for value in llm_ms:
        window.add('llm', value)
    for value in exact_ms:
        window.add('exact', value, 'store_unavailable')
    return window


def test_latency_report_values_are_strings_of_the_window_stats():
    llm = np.linspace(900.0, 2900.0, 21)
    stats = filled_window(llm, [])
    rep = d.latency_report('llm', stats.stats()['llm'], 30.0, p95_warn_ms=10000.0)
    p50, p95, p99 = np.percentile(llm, [50, 95, 99])
    assert rep.task == 'latency llm'
    assert rep.values['p50_ms'] == '%.1f' % p50
    assert rep.values['p95_ms'] == '%.1f' % p95
    assert rep.values['p99_ms'] == '%.1f' % p99
    assert rep.values['max_ms'] == '%.1f' % llm.max()
    assert (rep.values['samples'], rep.values['window_s']) == (str(len(llm)), '30.0')
    assert all(isinstance(v, str) for v in rep.values.values())
    assert rep.level == d.OK


def test_latency_warns_only_above_the_p95_threshold():
    llm = np.linspace(100.0, 3000.0, 30)
    stats = filled_window(llm, []).stats()['llm']
    p95 = float(np.percentile(llm, 95))
    assert d.latency_report('llm', stats, 30.0, p95 - 1.0).level == d.WARN
    assert d.latency_report('llm', stats, 30.0, p95).level == d.OK


def test_latency_without_samples_is_ok_and_says_so():
    stats = filled_window([], []).stats()['semantic']
    rep = d.latency_report('semantic', stats, 30.0, 1.0)
    assert (rep.level, rep.values['samples'], rep.values['p95_ms']) == (d.OK, '0', 'nan')
    assert 'no samples' in rep.message


@pytest.mark.parametrize('ok,level,reachable', [(True, d.OK, 'true'), (False, d.ERROR, 'false'),
                                                (None, d.STALE, 'unknown')])
def test_health_report_levels(ok, level, reachable):
    result = HealthResult(ok, 'cause text', None if ok is None else 10.0)
    rep = d.health_report('redis', 'redis://127.0.0.1:1/0', result, now=12.5)
    assert (rep.task, rep.level, rep.message) == ('redis', level, 'cause text')
    assert rep.values['reachable'] == reachable
    if ok is not None:
        assert rep.values['age_s'] == '2.5'


def test_summary_takes_the_worst_level_and_lists_counts_and_rates():
    window = filled_window([1000.0, 1200.0, 1400.0], [2.0])
    summary = window.summary()
    others = [d.latency_report(s, st, 30.0, 2500.0) for s, st in window.stats().items()]
    assert d.summary_report(summary, others, 0).level == d.OK
    others.append(d.Report('ollama', d.ERROR, 'down', {}))
    rep = d.summary_report(summary, others, ignored_messages=3, queue_depth=7)
    assert rep.level == d.ERROR and 'ollama' in rep.message
    assert rep.values['queue_depth'] == '7'
    assert rep.values['samples'] == '4'
    assert rep.values['errors'] == '1'
    assert rep.values['error_rate'] == '%.4f' % (1 / 4)
    assert rep.values['count_llm'] == '3'
    assert rep.values['hit_rate_exact'] == '%.4f' % (1 / 4)
    assert rep.values['cache_hit_rate'] == '%.4f' % (1 / 4)
    assert rep.values['errors_store_unavailable'] == '1'
    assert rep.values['ignored_messages'] == '3'


def test_summary_ranks_error_over_stale_over_warn():
    empty = filled_window([], []).summary()
    warn, stale, error = (d.Report(t, lvl, '', {}) for t, lvl in
                          (('latency llm', d.WARN), ('ollama', d.STALE), ('redis', d.ERROR)))
    assert d.summary_report(empty, [warn, stale], 0).level == d.STALE
    assert d.summary_report(empty, [stale, error, warn], 0).level == d.ERROR
