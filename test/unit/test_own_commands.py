"""Our own command set (``test/data/commands_own.tsv``), answered by the fast tiers.

Utterances we wrote as people talk to a robot dog in ja/zh/en, separate from the shared
evaluation set and never used to write the lexicon's entries: the check of issue 11 that
the matcher generalises. Run through the real pipeline (lexicon, readings, guards, the
real embedder for the semantic tier), Redis and Ollama absent, as ``claudia-llm eval``
scores the shared set: zero wrong actions, and at least 90 % of the action rows from the
emergency, exact or semantic tier (the held-out target of issue 11).
"""
from pathlib import Path

import pytest
from offline_engine import answer_all

from claudia_llm.core.evaluation import read_cases, score, summarise

pytestmark = pytest.mark.slow

OWN = Path(__file__).resolve().parents[1] / 'data' / 'commands_own.tsv'


def answer_cases(cases):
    return answer_all([case.utterance for case in cases], **{'safety.cooldown_s': 0.0})


def test_own_commands_zero_wrong_actions_and_fast_tier_coverage():
    cases = read_cases(str(OWN))
    assert len(cases) >= 150 and {c.language for c in cases} >= {'ja', 'zh', 'en'}
    rows = [score(case, record) for case, record in zip(cases, answer_cases(cases))]
    summary = summarise(rows, cases)
    wrong = [(c.utterance, r['intent']) for c, r in zip(cases, rows) if r['wrong_action']]
    assert wrong == []
    expecting = [(c, r) for c, r in zip(cases, rows) if c.alternatives() != [()]]
    fast = [c.utterance for c, r in expecting
            if r['ok'] and r['source'] in ('emergency', 'exact', 'semantic')]
    missed = sorted(set(c.utterance for c, _ in expecting) - set(fast))
    print('\nown set: %d rows, %d expecting an action, %d from the fast tiers; missed: %s'
          % (len(cases), len(expecting), len(fast), missed))
    assert summary['wrong_actions'] == 0
    assert len(fast) >= 0.90 * len(expecting), missed
