"""Labelled pairs against the real embedder: hit rate and false-hit rate per threshold.

GPTCache-style report (run with ``-s`` to see the tables): for each threshold, the share of
'same' pairs that the semantic tier would serve (hit rate) and of 'different' pairs it would
serve (false-hit rate). A pair is served when its cosine similarity reaches the threshold
and the guards of both sides are equal, and the query is not time-dependent (such questions
are never served from a cache): exactly the conditions of ``SemanticCache.check``.
The test fails on any false hit at the shipped threshold (``cache.semantic_threshold``).
Pairs: ``test/data/semantic_pairs.tsv`` (written by us; columns a, b, label, category, lang).
"""
import csv
from pathlib import Path
from typing import Dict, List, NamedTuple

import numpy as np
import pytest

from claudia_llm.core.cache.admission import is_time_dependent
from claudia_llm.core.cache.embedder import make_embedder
from claudia_llm.core.cache.semantic import SemanticCache, embedding_text, guards_key
from claudia_llm.core.cache.store import FailoverStore
from claudia_llm.core.record import Action, Answer
from claudia_llm.core.settings import defaults
from claudia_llm.core.understanding.guards import extract_guards

pytestmark = pytest.mark.slow

PAIRS = Path(__file__).resolve().parents[1] / 'data' / 'semantic_pairs.tsv'
SETTINGS = defaults('llm_node')
SHIPPED = SETTINGS['cache.semantic_threshold']
THRESHOLDS = sorted({round(t, 2) for t in np.arange(0.80, 1.0001, 0.01)} | {SHIPPED})
REQUIRED_DIFFERENT = [('座らないで', '座って'), ("don't sit", 'sit'),
                      ('右に曲がって', '左に曲がって'), ('三歩前へ', '一歩前へ')]


class Scored(NamedTuple):
    a: str
    b: str
    same: bool
    category: str
    lang: str
    score: float
    servable: bool  # equal guards and a query that is not time-dependent

    def served(self, threshold: float) -> bool:
        return self.servable and self.score >= threshold


def read_pairs() -> List[Dict[str, str]]:
    with open(PAIRS, encoding='utf-8', newline='') as stream:
        return list(csv.DictReader(stream, delimiter='\t', quoting=csv.QUOTE_NONE))


@pytest.fixture(scope='module')
def embedder():
    return make_embedder(SETTINGS['cache.embedder'], SETTINGS['cache.embedder_model'])


@pytest.fixture(scope='module')
def scored(embedder) -> List[Scored]:
    rows = read_pairs()
    va = embedder.embed([embedding_text(r['a']) for r in rows])
    vb = embedder.embed([embedding_text(r['b']) for r in rows])
    scores = np.einsum('ij,ij->i', va, vb)
    return [Scored(r['a'], r['b'], r['label'] == 'same', r['category'], r['lang'], float(s),
                   guards_key(extract_guards(r['a'])) == guards_key(extract_guards(r['b']))
                   and not is_time_dependent(r['a']))
            for r, s in zip(rows, scores)]


def test_pair_file_is_well_formed():
    rows = read_pairs()
    assert len(rows) >= 400
    assert {r['label'] for r in rows} == {'same', 'different'}
    categories = {r['category'] for r in rows}
    assert {'paraphrase', 'cross-lingual', 'negation', 'direction', 'number',
            'unrelated', 'question', 'spelling', 'polite', 'trick', 'lying', 'recovery',
            'greeting'} <= categories
    langs = {part for r in rows for part in r['lang'].split('-')}
    assert {'ja', 'zh', 'en'} <= langs
    pairs = {(r['a'], r['b']) for r in rows if r['label'] == 'different'}
    assert set(REQUIRED_DIFFERENT) <= pairs


def test_report_and_no_false_hit_at_the_shipped_threshold(scored, embedder):
    same = [p for p in scored if p.same]
    different = [p for p in scored if not p.same]
    print('\nsemantic pairs: %d (%d same, %d different), embedder %s'
          % (len(scored), len(same), len(different), embedder.model_id))
    print('%9s %9s %14s %6s' % ('threshold', 'hit rate', 'false-hit rate', 'false'))
    for threshold in THRESHOLDS:
        hits = sum(p.served(threshold) for p in same)
        false = sum(p.served(threshold) for p in different)
        mark = '  <- shipped' if threshold == SHIPPED else ''
        print('%9.2f %8.1f%% %13.1f%% %6d%s' % (threshold, 100.0 * hits / len(same),
                                                100.0 * false / len(different), false, mark))
    print('at %.2f, per category (served / pairs; max score):' % SHIPPED)
    for category in sorted({p.category for p in scored}):
        for label in (True, False):
            group = [p for p in scored if p.category == category and p.same == label]
            if group:
                print('  %-14s %-9s %3d / %3d   max %.3f' % (
                    category, 'same' if label else 'different',
                    sum(p.served(SHIPPED) for p in group), len(group),
                    max(p.score for p in group)))
    close = sorted((p for p in different if p.servable), key=lambda p: -p.score)[:5]
    print('closest servable different pairs (equal guards):')
    for p in close:
        print('  %.3f  %s | %s' % (p.score, p.a, p.b))
    false_hits = [(p.a, p.b, round(p.score, 3)) for p in different if p.served(SHIPPED)]
    assert false_hits == []
    assert any(p.served(SHIPPED) for p in same), 'the shipped threshold serves nothing'


@pytest.mark.asyncio
@pytest.mark.parametrize('query, stored', REQUIRED_DIFFERENT)
async def test_required_pairs_are_refused_by_the_cache(embedder, query, stored):
    cache = SemanticCache(FailoverStore(None), embedder, 'pairs', threshold=SHIPPED, ttl_s=None)
    await cache.store(stored, Answer('ok', [Action('Sit', 1009)], 'command'))
    assert (await cache.check(stored)) is not None  # the entry itself is served
    assert (await cache.check(query)) is None
