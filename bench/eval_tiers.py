"""How much of a command TSV the tiers before the LLM answer: emergency, exact, semantic.

No Redis and no LLM: the exact tier is ``core.commands.compose`` over the lexicon's answers
(a dict); the semantic tier is a ``SemanticCache`` on ``FailoverStore(None)`` seeded with
the lexicon only (``seed_lexicon``), with the real default embedder. The evaluation rows
are only read, never put into a cache.

Usage::

    .venv/bin/python bench/eval_tiers.py [../shared/eval/commands_dev.tsv]
        [--thresholds 0.93,0.95,0.97] [--verbose]

Scoring is ``core.evaluation.score`` on the intent (DESIGN.md): a wrong action is a row
whose intent is not empty and matches no alternative of ``expected``.
"""
import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from claudia_llm.core.cache.embedder import make_embedder
from claudia_llm.core.cache.semantic import SemanticCache
from claudia_llm.core.cache.store import FailoverStore
from claudia_llm.core.evaluation import Case, read_cases, score
from claudia_llm.core.record import Answer
from claudia_llm.core.safety.actions import ActionRegistry
from claudia_llm.core.settings import defaults
from claudia_llm.core.understanding import emergency
from claudia_llm.core.understanding.commands import compose
from claudia_llm.core.understanding.lexicon import Lexicon

DEFAULT_TSV = Path(__file__).resolve().parents[2] / 'shared' / 'eval' / 'commands_dev.tsv'


async def first_tiers(cases: List[Case], floor: float) -> List[Tuple[str, List[str], float, str]]:
    """Per case: (tier, intent, semantic score, matched text) with the semantic tier at
    threshold ``floor``; tier is 'emergency', 'exact', 'semantic' or 'none'."""
    settings = defaults('llm_node')
    registry = ActionRegistry.load()
    lexicon = Lexicon.load(None, registry)
    table: Dict[str, Answer] = {key: answer for key, answer, _ in lexicon.answers()}
    embedder = make_embedder(settings['cache.embedder'], settings['cache.embedder_model'])
    cache = SemanticCache(FailoverStore(None), embedder, 'eval', threshold=floor, ttl_s=None,
                          registry=registry)
    start = time.perf_counter()
    seeded = await cache.seed_lexicon(lexicon)
    print('semantic cache: %d lexicon entries embedded in %.1f s (%s)'
          % (seeded, time.perf_counter() - start, embedder.model_id))
    out = []
    for case in cases:
        if emergency.is_emergency(case.utterance):
            out.append(('emergency', [emergency.EMERGENCY_ACTION], 0.0, ''))
            continue
        answer = compose(case.utterance, table.get, lexicon.high_risk())
        if answer is not None:
            out.append(('exact', [a.name for a in answer.intent], 0.0, ''))
            continue
        hit = await cache.check(case.utterance)
        if hit is not None:
            out.append(('semantic', [a.name for a in hit.answer.intent], hit.score,
                        hit.matched_text))
        else:
            out.append(('none', [], 0.0, ''))
    return out


def report(cases: List[Case], tiers, threshold: float, verbose: bool) -> int:
    """Print the figures at ``threshold``; return the number of wrong actions."""
    counts: Dict[str, int] = {'emergency': 0, 'exact': 0, 'semantic': 0}
    wrong: List[Tuple[Case, str, List[str], float, str]] = []
    action_rows = 0
    for case, (tier, intent, sim, matched) in zip(cases, tiers):
        if tier == 'semantic' and sim < threshold:
            tier, intent = 'none', []
        result = score(case, {'intent': intent, 'source': tier})
        expects_action = case.alternatives() != [()]
        action_rows += expects_action
        if result['wrong_action']:
            wrong.append((case, tier, intent, sim, matched))
        elif expects_action and result['ok']:
            counts[tier] += 1
        if verbose and tier == 'semantic':
            print('    %s %.3f %-24s -> %-24s %s' % ('ok ' if result['ok'] else 'BAD', sim,
                                                    case.utterance, matched, '+'.join(intent)))
    right = sum(counts.values())
    print('threshold %.3f: %d / %d action rows right (%.1f%%): emergency %d, exact %d, '
          'semantic %d; wrong actions (incl. none rows given an action) %d'
          % (threshold, right, action_rows, 100.0 * right / max(action_rows, 1),
             counts['emergency'], counts['exact'], counts['semantic'], len(wrong)))
    for case, tier, intent, sim, matched in wrong:
        print('    WRONG [%s %.3f] %s (expected %s) -> %s via %r'
              % (tier, sim, case.utterance, case.expected, '+'.join(intent), matched))
    return len(wrong)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('tsv', nargs='?', default=str(DEFAULT_TSV))
    parser.add_argument('--thresholds', default='',
                        help='comma-separated thresholds (default: the shipped one)')
    parser.add_argument('--verbose', action='store_true', help='list every semantic hit')
    args = parser.parse_args(argv)
    shipped = defaults('llm_node')['cache.semantic_threshold']
    thresholds = sorted(float(t) for t in args.thresholds.split(',') if t) or [shipped]
    cases = read_cases(args.tsv)
    tiers = asyncio.run(first_tiers(cases, min(thresholds)))
    wrong_at_shipped = 0
    for threshold in thresholds:
        wrong = report(cases, tiers, threshold, args.verbose and threshold == thresholds[-1])
        if threshold == shipped:
            wrong_at_shipped = wrong
    print('(shipped threshold: %.3f)' % shipped)
    return 1 if wrong_at_shipped else 0


if __name__ == '__main__':
    sys.exit(main())
