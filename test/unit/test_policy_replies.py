"""The spoken reply never promises a move the policy left out.

Through the real pipeline (lexicon, policy, robot state), Redis, Ollama and the semantic
tier absent (the exact tier answers these): a command repeated within the cooldown, or one
that asks for the posture the robot is already in, publishes no action and says so
instead of the command's reply.
"""
from offline_engine import answer_all

from claudia_llm.core.replies import FALLBACK


def answers(texts, cooldown_s):
    return answer_all(texts, **{'safety.cooldown_s': cooldown_s,
                                'cache.semantic_enabled': False})


def names(record):
    return [a['name'] for a in record['actions']]


def test_a_command_repeated_within_the_cooldown_says_it_was_just_done():
    first, second = answers(['dance', 'dance'], cooldown_s=30.0)
    assert names(first) == ['Dance1'] and first['reply'] == "Let's dance!"
    assert names(second) == [] and [c['rule'] for c in second['policy']] == ['cooldown']
    assert second['reply'] == FALLBACK['just_done']['en']


def test_the_posture_the_robot_is_already_in_says_so():
    first, second = answers(['座って', 'すわって'], cooldown_s=0.0)
    assert 'Sit' in names(first)
    assert names(second) == [] and 'already_in_posture' in [c['rule'] for c in second['policy']]
    assert second['reply'] == FALLBACK['already']['ja']


def test_a_sequence_with_one_action_left_keeps_its_reply():
    first, second = answers(['dance', 'dance then wiggle your hips'], cooldown_s=30.0)
    assert names(second) == ['WiggleHips']
    assert second['reply'] not in [r['en'] for r in FALLBACK.values()]
