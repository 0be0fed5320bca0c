"""What ``diagnostics_node`` reports, as plain data; the node only turns it into messages.

One ``Report`` per status of ``/diagnostics`` (DESIGN.md): ``latency <source>`` for every
source, one per dependency (``ollama``, ``redis``) and a ``summary``. Levels follow
REP-107 / ``diagnostic_msgs/DiagnosticStatus``: ok, warn, error, stale. Values are
strings, as ``diagnostic_msgs/KeyValue`` wants them.
"""
import math
from typing import Dict, List, NamedTuple, Optional

from .health import HealthResult
from .latency import SourceStats, WindowSummary

OK, WARN, ERROR, STALE = 'ok', 'warn', 'error', 'stale'
_RANK = {OK: 0, WARN: 1, STALE: 2, ERROR: 3}  # a known fault outranks an unknown state


class Report(NamedTuple):
    """One diagnostic status: ``task`` (the part after ``"<node name>: "``), level, text."""

    task: str
    level: str
    message: str
    values: Dict[str, str]


def fmt(value: float, digits: int = 1) -> str:
    """Format a number for a KeyValue: fixed ``digits`` decimals, ``'nan'`` when undefined."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return 'nan'
    return '%.*f' % (digits, value)


def latency_report(source: str, stats: SourceStats, window_s: float,
                   p95_warn_ms: float) -> Report:
    """Report of one source's latency; WARN when its p95 exceeds ``p95_warn_ms`` (ms)."""
    values = {'p50_ms': fmt(stats.p50_ms), 'p95_ms': fmt(stats.p95_ms),
              'p99_ms': fmt(stats.p99_ms), 'max_ms': fmt(stats.max_ms),
              'samples': str(stats.samples), 'errors': str(stats.errors),
              'window_s': fmt(window_s), 'p95_warn_ms': fmt(p95_warn_ms)}
    if stats.samples == 0:
        return Report('latency ' + source, OK, 'no samples in the last %s s' % fmt(window_s, 0),
                      values)
    if stats.p95_ms > p95_warn_ms:
        return Report('latency ' + source, WARN, 'p95 %s ms above %s ms'
                      % (fmt(stats.p95_ms), fmt(p95_warn_ms)), values)
    return Report('latency ' + source, OK, 'p95 %s ms' % fmt(stats.p95_ms), values)


def health_report(name: str, target: str, result: HealthResult,
                  now: Optional[float] = None) -> Report:
    """Report of one dependency: ERROR when unreachable, STALE before the first probe.

    Args:
        name: task name (``ollama``, ``redis``).
        target: what was probed (host or URL without password), shown as ``target``.
        result: latest probe result.
        now: current clock time (same clock as ``result.checked_at``), seconds; used
            for the ``age_s`` value.
    """
    values = {'target': target, 'reachable': _reachable(result.ok)}
    if result.checked_at is not None and now is not None:
        values['age_s'] = fmt(max(now - result.checked_at, 0.0))
    if result.ok is None:
        return Report(name, STALE, result.message, values)
    return Report(name, OK if result.ok else ERROR, result.message, values)


def summary_report(summary: WindowSummary, others: List[Report],
                   ignored_messages: int, queue_depth: int = 0) -> Report:
    """Totals over the window; its level is the worst level of ``others``.

    ``queue_depth`` is the LLM queue length the newest response record carried.
    """
    values = {'samples': str(summary.total), 'errors': str(summary.errors),
              'queue_depth': str(queue_depth),
              'window_s': fmt(summary.window_s), 'error_rate': fmt(summary.error_rate, 4),
              'cache_hit_rate': fmt(summary.cache_hit_rate, 4),
              'ignored_messages': str(ignored_messages)}
    for source, count in summary.counts.items():
        values['count_' + source] = str(count)
        values['hit_rate_' + source] = fmt(summary.hit_rates[source], 4)
    for code, count in sorted(summary.error_codes.items()):
        values['errors_' + code] = str(count)
    level = max((r.level for r in others), key=_RANK.get, default=OK)
    message = '%d responses in %s s, error rate %.1f %%' % (
        summary.total, fmt(summary.window_s, 0), 100.0 * summary.error_rate)
    problems = [r.task for r in others if r.level != OK]
    if problems:
        message += '; not ok: ' + ', '.join(problems)
    return Report('summary', level, message, values)


def _reachable(ok: Optional[bool]) -> str:
    return 'unknown' if ok is None else ('true' if ok else 'false')
