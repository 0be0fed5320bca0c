"""Scoring rules of DESIGN.md "Evaluation data"."""
from claudia_llm.core.evaluation import Case, read_cases, score, summarise


def record(intent, actions=None, source='exact', policy=None, total=1.0):
    names = intent if actions is None else actions
    return {'intent': intent, 'actions': [{'name': n} for n in names],
            'source': source, 'policy': policy or [], 'latency_ms': {'total': total}}


def test_alternatives_and_sequences():
    assert Case('x', 'none').alternatives() == [()]
    assert Case('x', 'Sit+Hello|Hello').alternatives() == [('Sit', 'Hello'), ('Hello',)]


def test_intent_match_is_right():
    assert score(Case('x', 'Dance1|Dance2'), record(['Dance2']))['ok']


def test_final_actions_with_inserted_prerequisite_also_match():
    row = score(Case('x', 'Sit+StandUp+Dance1|Sit+Dance2'),
                record(['Sit', 'Dance1'], ['Sit', 'StandUp', 'Dance1'],
                       policy=[{'rule': 'inserted_standup'}]))
    assert row['ok'] and not row['wrong_action'] and not row['unexplained_change']


def test_none_is_right_only_without_intent():
    assert score(Case('x', 'none'), record([]))['ok']
    row = score(Case('x', 'none'), record(['Hello']))
    assert not row['ok'] and row['wrong_action']


def test_missing_intent_is_a_miss_not_a_wrong_action():
    row = score(Case('x', 'Sit'), record([], source='fallback'))
    assert not row['ok'] and not row['wrong_action'] and row['fallback']


def test_removed_action_without_a_rule_is_flagged():
    row = score(Case('x', 'FrontFlip'), record(['FrontFlip'], []))
    assert row['ok'] and row['unexplained_change']


def test_no_record_counts_as_missing():
    row = score(Case('x', 'Sit'), None)
    assert row['error'] == 'no_record' and not row['ok']


def test_summary_counts_cache_tiers_and_latency(tmp_path):
    path = tmp_path / 'cases.tsv'
    path.write_text('utterance\texpected\tapi_ids\tlanguage\nsit\tSit\t1009\ten\n'
                    'hi there\tnone\t\ten\nflip\tFrontFlip\t1030\ten\n', encoding='utf-8')
    cases = read_cases(str(path))
    rows = [score(cases[0], record(['Sit'], total=2.0)),
            score(cases[1], record([], source='llm', total=900.0)),
            score(cases[2], record([], source='fallback', total=3.0))]
    totals = summarise(rows, cases)
    assert totals['expecting_action'] == 2
    assert totals['cache_tier_right'] == 1
    assert totals['wrong_actions'] == 0 and totals['fallbacks'] == 1
    assert totals['latency_by_source']['exact']['p50_ms'] == 2.0
    en = totals['by_language']['en']
    assert (en['rows'], en['expecting_action'], en['fast_right']) == (3, 2, 1)
    assert en['by_tier'] == {'emergency': 0, 'exact': 1, 'semantic': 0}
    assert en['fast_rate'] == 0.5


def test_per_language_breakdown_keeps_languages_apart():
    cases = [Case('座って', 'Sit', 'ja'), Case('坐下', 'Sit', 'zh'), Case('sit', 'Sit', '')]
    rows = [score(cases[0], record(['Sit'])), score(cases[1], record(['Heart'])),
            score(cases[2], record([], source='fallback'))]
    by = summarise(rows, cases)['by_language']
    assert sorted(by) == ['?', 'ja', 'zh']
    assert by['ja']['fast_rate'] == 1.0 and by['zh']['wrong_actions'] == 1
    assert by['?']['fast_right'] == 0


def test_row_carries_the_policy_changes_that_explain_missing_actions():
    change = {'action': 'Heart', 'rule': 'cooldown', 'reason': 'same action 0.4 s ago'}
    row = score(Case('x', 'Heart'), record(['Heart'], actions=[], policy=[change]))
    assert row['policy'] == [change] and row['actions'] == []
    assert not row['unexplained_change']
    assert score(Case('x', 'Heart'), None)['policy'] == []
