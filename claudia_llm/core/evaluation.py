"""Scoring of response records against labelled utterances (DESIGN.md, "Evaluation data").

A TSV row has ``utterance, expected, api_ids, language``; ``expected`` is ``none``, one
action name, ``A+B`` for a sequence or ``A|B`` for alternatives. A row is right when
the record's ``intent`` matches an alternative, or its final ``actions`` (with
inserted prerequisites) do; ``none`` is right only when no action was understood; a
wrong action is a row whose intent is non-empty and matches no alternative.
"""
import csv
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np


@dataclass
class Case:
    """One labelled utterance."""

    utterance: str
    expected: str
    language: str = ''

    def alternatives(self) -> List[Tuple[str, ...]]:
        """``expected`` as a list of action-name sequences; ``none`` is ``[()]``."""
        if self.expected.strip().lower() == 'none':
            return [()]
        return [tuple(p.strip() for p in alt.split('+') if p.strip())
                for alt in self.expected.split('|')]


def read_cases(path: str) -> List[Case]:
    """Read a TSV with a header row holding ``utterance`` and ``expected`` columns.

    Raises:
        ValueError: the header lacks those columns.
    """
    with open(path, encoding='utf-8', newline='') as stream:
        reader = csv.DictReader(stream, delimiter='\t', quoting=csv.QUOTE_NONE)
        if not reader.fieldnames or not {'utterance', 'expected'} <= set(reader.fieldnames):
            raise ValueError('%s: header needs utterance and expected columns' % path)
        return [Case(row['utterance'], (row.get('expected') or 'none').strip(),
                     row.get('language') or '')
                for row in reader if row.get('utterance')]


def score(case: Case, record: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """Score one record (``None`` = no record arrived) against ``case``.

    Returns ``{"utterance", "expected", "intent", "actions", "source", "ok",
    "wrong_action", "fallback", "latency_ms", "error", "policy", "unexplained_change"}``
    (``policy``: the record's policy changes, so a row says why actions were removed).
    ``unexplained_change`` is true when final actions differ from the intent and the
    record names no policy rule for it.
    """
    record = record or {}
    intent = tuple(record.get('intent') or ())
    actions = tuple(a.get('name') for a in record.get('actions') or ())
    alternatives = case.alternatives()
    if alternatives == [()]:
        ok = not intent
    else:
        ok = intent in alternatives or (bool(actions) and actions in alternatives)
    changed = bool(intent) and actions != intent
    return {
        'utterance': case.utterance, 'expected': case.expected, 'intent': list(intent),
        'actions': list(actions), 'source': record.get('source', 'none'), 'ok': ok,
        'wrong_action': bool(intent) and not ok,
        'fallback': record.get('source') == 'fallback' or not record,
        'latency_ms': (record.get('latency_ms') or {}).get('total'),
        'error': (record.get('error') or {}).get('code') if record else 'no_record',
        'policy': list(record.get('policy') or ()),
        'unexplained_change': changed and not record.get('policy'),
    }


def summarise(rows: Sequence[Dict[str, Any]],
              cases: Sequence[Case]) -> Dict[str, Any]:
    """Totals over scored rows: accuracy, wrong actions, fallbacks, latency per source.

    ``cache_tier_right`` counts rows expecting an action that were answered right by the
    emergency, exact or semantic tier (no LLM); ``by_language`` breaks it down per
    language (see ``by_language``).
    """
    expecting = [r for r, c in zip(rows, cases) if c.alternatives() != [()]]
    latency = {}
    for source in sorted({r['source'] for r in rows}):
        values = [r['latency_ms'] for r in rows if r['source'] == source
                  and r['latency_ms'] is not None]
        if values:
            latency[source] = {'n': len(values),
                               'p50_ms': float(np.percentile(values, 50)),
                               'p99_ms': float(np.percentile(values, 99))}
    cache_right = sum(1 for r in expecting if _fast_right(r))
    return {
        'rows': len(rows), 'right': sum(r['ok'] for r in rows),
        'accuracy': sum(r['ok'] for r in rows) / len(rows) if rows else 0.0,
        'wrong_actions': sum(r['wrong_action'] for r in rows),
        'fallbacks': sum(r['fallback'] for r in rows),
        'missing_records': sum(1 for r in rows if r['error'] == 'no_record'),
        'expecting_action': len(expecting),
        'cache_tier_right': cache_right,
        'cache_tier_rate': cache_right / len(expecting) if expecting else 0.0,
        'unexplained_changes': sum(r['unexplained_change'] for r in rows),
        'latency_by_source': latency,
        'by_language': by_language(rows, cases),
    }


FAST_TIERS = ('emergency', 'exact', 'semantic')


def _fast_right(row: Dict[str, Any]) -> bool:
    return row['ok'] and row['source'] in FAST_TIERS


def by_language(rows: Sequence[Dict[str, Any]],
                cases: Sequence[Case]) -> Dict[str, Dict[str, Any]]:
    """Totals per value of the ``language`` column (an empty one is shown as ``'?'``).

    Rows, right, wrong actions, action rows and how many of them each fast tier answered
    right.

    Returns ``{lang: {"rows", "right", "wrong_actions", "expecting_action",
    "fast_right", "fast_rate", "by_tier": {tier: n}}}``, languages sorted.
    """
    out: Dict[str, Dict[str, Any]] = {}
    for row, case in sorted(zip(rows, cases), key=lambda rc: rc[1].language or '?'):
        lang = out.setdefault(case.language or '?', {
            'rows': 0, 'right': 0, 'wrong_actions': 0, 'expecting_action': 0,
            'fast_right': 0, 'fast_rate': 0.0, 'by_tier': {t: 0 for t in FAST_TIERS}})
        lang['rows'] += 1
        lang['right'] += int(row['ok'])
        lang['wrong_actions'] += int(row['wrong_action'])
        if case.alternatives() != [()]:
            lang['expecting_action'] += 1
            if _fast_right(row):
                lang['fast_right'] += 1
                lang['by_tier'][row['source']] += 1
    for lang in out.values():
        if lang['expecting_action']:
            lang['fast_rate'] = lang['fast_right'] / lang['expecting_action']
    return out
