"""The ``claudia-llm eval`` printout: one line per row, then the totals and latencies."""
from typing import Any, Dict


def row_line(index: int, row: Dict[str, Any], utterance: str, expected: str) -> str:
    """``'  3 ok  exact     1.6 ms  姿勢 -> Euler (expected Euler)'`` for one scored row."""
    mark = 'ok ' if row['ok'] else ('WRONG' if row['wrong_action'] else 'miss')
    return '%3d %-5s %-9s %8s ms  %s -> %s (expected %s)' % (
        index, mark, row['source'], ms_text(row['latency_ms']), utterance,
        '+'.join(row['intent']) or 'none', expected)


def ms_text(value) -> str:
    """A latency in ms with one decimal, or '-' when there is none."""
    return '-' if value is None else '%.1f' % value


def print_totals(t: Dict[str, Any]) -> None:
    """Print ``core.evaluation.summarise`` totals: accuracy, tiers, latency per source."""
    print('\nrows %d  right %d  accuracy %.1f%%  wrong actions %d  fallbacks %d  '
          'missing records %d' % (t['rows'], t['right'], 100 * t['accuracy'],
                                  t['wrong_actions'], t['fallbacks'], t['missing_records']))
    print('rows expecting an action: %d, right from emergency/exact/semantic tiers: %d '
          '(%.1f%%); actions changed without a named rule: %d' % (
              t['expecting_action'], t['cache_tier_right'], 100 * t['cache_tier_rate'],
              t['unexplained_changes']))
    print('%-10s %5s %10s %10s' % ('source', 'n', 'p50 ms', 'p99 ms'))
    for source, s in t['latency_by_source'].items():
        print('%-10s %5d %10.1f %10.1f' % (source, s['n'], s['p50_ms'], s['p99_ms']))
