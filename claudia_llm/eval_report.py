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
    print_languages(t.get('by_language') or {})
    print('%-10s %5s %10s %10s' % ('source', 'n', 'p50 ms', 'p99 ms'))
    for source, s in t['latency_by_source'].items():
        print('%-10s %5d %10.1f %10.1f' % (source, s['n'], s['p50_ms'], s['p99_ms']))


def print_languages(by_language: Dict[str, Dict[str, Any]]) -> None:
    """Per-language table: action rows, right from each fast tier, fast-tier rate, wrong."""
    if not by_language:
        return
    print('%-8s %5s %6s %9s %6s %9s %7s %7s %6s' % (
        'language', 'rows', 'wrong', 'act rows', 'fast', 'emergency', 'exact', 'semantic',
        'fast %'))
    for lang, v in by_language.items():
        tiers = v['by_tier']
        print('%-8s %5d %6d %9d %6d %9d %7d %7d %5.1f%%' % (
            lang, v['rows'], v['wrong_actions'], v['expecting_action'], v['fast_right'],
            tiers['emergency'], tiers['exact'], tiers['semantic'], 100 * v['fast_rate']))
