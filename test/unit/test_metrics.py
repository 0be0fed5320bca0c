"""core.metrics: the Prometheus text the exporter produces (no socket here)."""
import math

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from claudia_llm.core.latency import LatencyWindow
from claudia_llm.core.metrics import PrometheusExporter


def samples(exporter):
    text = generate_latest(exporter.registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_counts_latency_window_and_dependencies():
    exporter = PrometheusExporter(port=1)
    window = LatencyWindow(60.0)
    sent = [('llm', 1800.0, None), ('llm', 2600.0, 'llm_timeout'), ('exact', 3.0, None)]
    for source, ms, code in sent:
        exporter.observe(source, ms, code)
        window.add(source, ms, code)
    exporter.set_window(window.stats())
    exporter.set_up('redis', True)
    exporter.set_up('ollama', False)
    exporter.set_up('other', None)
    got = samples(exporter)
    assert got[('claudia_llm_responses_total',
                (('error_code', 'none'), ('source', 'llm')))] == 1
    assert got[('claudia_llm_responses_total',
                (('error_code', 'llm_timeout'), ('source', 'llm')))] == 1
    assert got[('claudia_llm_response_latency_seconds_count', (('source', 'llm'),))] == 2
    assert got[('claudia_llm_response_latency_seconds_sum', (('source', 'llm'),))] == \
        (1800.0 + 2600.0) / 1000.0
    assert got[('claudia_llm_latency_window_ms', (('quantile', '1'), ('source', 'llm')))] == \
        window.stats()['llm'].max_ms
    assert math.isnan(got[('claudia_llm_latency_window_ms',
                           (('quantile', '0.5'), ('source', 'semantic')))])
    assert got[('claudia_llm_dependency_up', (('dependency', 'redis'),))] == 1
    assert got[('claudia_llm_dependency_up', (('dependency', 'ollama'),))] == 0
    assert got[('claudia_llm_dependency_up', (('dependency', 'other'),))] == -1


def test_two_exporters_in_one_process_do_not_clash():
    first, second = PrometheusExporter(port=1), PrometheusExporter(port=2)
    first.observe('exact', 1.0, None)
    assert ('claudia_llm_responses_total', (('error_code', 'none'), ('source', 'exact'))) \
        not in samples(second)
    second.stop()
