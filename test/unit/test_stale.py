"""The ``stale`` rule: actions of an utterance said too long ago are withheld, and said so."""
import asyncio
import time

import pytest
from offline_engine import offline_settings

from claudia_llm.core.app import Engine
from claudia_llm.core.errors import ConfigError
from claudia_llm.core.llm.ollama import LLMResult
from claudia_llm.core.llm.scheduler.request import LLMRequest
from claudia_llm.core.record import Action, Answer
from claudia_llm.core.replies import FALLBACK
from claudia_llm.core.safety.actions import ActionRegistry
from claudia_llm.core.safety.policy import DROP_RULES, SafetyPolicy
from claudia_llm.core.safety.robot_state import RobotState
from claudia_llm.core.safety.stale import is_stale, withhold_stale

REGISTRY = ActionRegistry.load()


def act(name):
    return Action(name, REGISTRY.get(name).api_id, {})


def standing():
    return RobotState(initial_posture='standing')


@pytest.mark.parametrize('age, limit, stale', [
    (None, 6.0, False), (5.9, 6.0, False), (6.0, 6.0, False), (6.01, 6.0, True),
    (600.0, 0.0, False), (float('nan'), 6.0, False), (float('inf'), 6.0, False),
    ('7', 6.0, True), ('old', 6.0, False),
])
def test_is_stale_only_past_the_limit_with_a_known_age(age, limit, stale):
    assert is_stale(age, limit) is stale


def test_an_old_utterance_keeps_no_action_but_stopmove():
    kept, changes = withhold_stale([act('Sit'), act('StopMove'), act('Hello')], 7.25, 6.0)
    assert [a.name for a in kept] == ['StopMove']
    assert [(c.action, c.rule) for c in changes] == [('Sit', 'stale'), ('Hello', 'stale')]
    assert 'said 7.2 s ago, more than 6.0 s' in changes[0].reason


def test_policy_applies_stale_first_and_lists_it_as_a_drop_rule():
    policy = SafetyPolicy(REGISTRY, stale_after_s=6.0)
    fresh = policy.check([act('Sit')], 'llm', standing(), age_s=1.0)
    assert [a.name for a in fresh.actions] == ['Sit'] and fresh.rules() == []
    old = policy.check([act('Sit'), act('Sit')], 'llm', standing(), age_s=8.0)
    assert old.actions == [] and old.rules() == ['stale', 'stale']
    assert policy.check([act('Sit')], 'llm', standing()).actions  # age unknown
    assert 'stale' in DROP_RULES


def test_stale_after_zero_turns_the_rule_off_and_a_bad_limit_is_refused():
    policy = SafetyPolicy(REGISTRY, stale_after_s=0.0)
    assert [a.name for a in policy.check([act('Sit')], 'llm', standing(), age_s=1e6).actions] \
        == ['Sit']
    with pytest.raises(ConfigError, match='safety.stale_after_s'):
        SafetyPolicy(REGISTRY, stale_after_s=-1.0)


def engine_settings(**overrides):
    return offline_settings({'cache.semantic_enabled': False, 'safety.cooldown_s': 0.0}, overrides)


def run_engine(body, **overrides):
    records = []

    async def main():
        engine = Engine(engine_settings(**overrides), records.append)
        await engine.start()
        try:
            return await body(engine)
        finally:
            await engine.aclose()

    return asyncio.run(main()), records


@pytest.mark.parametrize('text, language', [('座って', 'ja'), ('sit down', 'en'), ('坐下', 'zh')])
def test_a_command_received_7_s_ago_is_answered_without_moving_in_its_language(text, language):
    async def ask(engine):
        return await engine.pipeline.handle(text, time.perf_counter(), time.time() - 7.0)

    record, records = run_engine(ask)
    assert records == [record] and record.source == 'exact' and record.intent
    assert record.actions == [] and {c.rule for c in record.policy} == {'stale'}
    assert record.reply == FALLBACK['stale'][language]
    assert record.age_ms >= 7000.0 and record.to_dict()['age_ms'] == record.age_ms


def test_a_fresh_command_moves_and_carries_its_small_age():
    async def ask(engine):
        return await engine.pipeline.handle('座って')

    record, _ = run_engine(ask)
    assert [a.name for a in record.actions] == ['Sit']
    assert 0.0 <= record.age_ms < 6000.0 and record.policy == []


def test_an_orphan_answered_after_a_restart_is_withheld_with_its_age():
    """What the next node publishes for a request handed over by a stopped node."""
    answer = Answer(reply='座ります。', intent=[act('Sit')], kind='command')
    result = LLMResult(answer=answer, model='qwen2.5:7b', prompt_tokens=1,
                       completion_tokens=1, total_ms=1.0, load_ms=0.0, prompt_eval_ms=0.0,
                       eval_ms=0.0, ttft_ms=None)
    text = 'ちょっと座ってみて'
    request = LLMRequest(request_id='old-1', text=text, utterance=text, created=time.time() - 9.0)

    async def orphan(engine):
        return await engine.pipeline.handle_orphan(request, result, None)

    record, records = run_engine(orphan)
    assert records == [record] and record.request_id == 'old-1' and record.source == 'llm'
    assert record.intent == ['Sit'] and record.actions == []
    assert [c.rule for c in record.policy] == ['stale']
    assert record.reply == FALLBACK['stale']['ja'] and record.age_ms >= 9000.0


def test_the_limit_is_a_live_parameter():
    async def apply(engine):
        engine.apply(engine.config.with_changes({'safety.stale_after_s': 30.0}))
        return await engine.pipeline.handle('sit down', time.perf_counter(), time.time() - 7.0)

    record, _ = run_engine(apply)
    assert [a.name for a in record.actions] == ['Sit']
