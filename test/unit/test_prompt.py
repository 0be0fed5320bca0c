"""PromptProfile: system prompt, output schema, parsing and version (no network)."""
import json
import re

import jsonschema
import pytest

from claudia_llm.core.errors import LLMMalformedOutput
from claudia_llm.core.llm.prompt import KINDS, PromptProfile, called
from claudia_llm.core.safety.actions import ActionRegistry
from claudia_llm.testing.qwen_tokens import count_tokens


@pytest.fixture(scope='module')
def registry():
    return ActionRegistry.load()


@pytest.fixture(scope='module')
def profile(registry):
    return PromptProfile(registry, max_actions=3)


def _content(reply='ok', actions=(), kind='command'):
    return json.dumps({'actions': list(actions), 'reply': reply, 'kind': kind},
                      ensure_ascii=False)


def test_schema_lists_exactly_the_actions_the_llm_may_use(profile, registry):
    jsonschema.Draft7Validator.check_schema(profile.schema)
    assert profile.schema['required'] == ['actions', 'reply', 'kind']
    # schema order is generation order: the actions come first so they can go out early
    assert list(profile.schema['properties']) == ['actions', 'reply', 'kind']
    actions = profile.schema['properties']['actions']
    assert actions['maxItems'] == 3
    assert actions['items']['properties']['name']['enum'] == registry.llm_names()
    assert profile.schema['properties']['kind']['enum'] == list(KINDS)
    hidden = [s.name for s in registry if not (s.enabled and s.from_llm)]
    assert hidden, 'the table should have actions the LLM may not use'
    assert not set(hidden) & set(actions['items']['properties']['name']['enum'])
    params = actions['items']['properties']['parameter']['properties']
    for axis in ('x', 'y', 'z'):
        assert params[axis] == {'type': 'number'}


def test_system_prompt_names_every_allowed_action_with_its_words(profile, registry):
    for name in registry.llm_names():
        line = next(li for li in profile.system_prompt.splitlines()
                    if li.startswith('%s:' % name))
        kept = called(registry.get(name))
        assert kept and all(word in line for word in kept)
        for words in registry.get(name).names.values():
            for word in words:
                # a word left out is the name itself or contains a listed word or the name
                assert (word in line or word.replace(' ', '').lower() == name.lower()
                        or any(k in word.lower() for k in kept + [name.lower()])), (name, word)
    for spec in registry:
        if not (spec.enabled and spec.from_llm):
            assert not re.search(r'^%s:' % spec.name, profile.system_prompt, re.M)
    move = next(li for li in profile.system_prompt.splitlines() if li.startswith('Move:'))
    assert 'm/s' in move and 'rad/s' in move and '+forward' in move and '+left' in move


def test_called_drops_the_name_and_words_containing_a_listed_word(registry):
    assert called(registry.get('BalanceStand')) == ['バランス', '安定', '平衡', 'balance']
    assert 'sit' not in called(registry.get('Sit'))
    assert '跳舞1' not in called(registry.get('Dance1'))


def test_system_prompt_is_at_most_600_qwen_tokens(registry):
    # prefill cost after a cold start (keep_alive expiry, reboot): 1 066 tokens before issue 10
    prompt = PromptProfile(registry, max_actions=16).system_prompt
    assert count_tokens(prompt) <= 600


def test_messages_put_the_system_prompt_first_and_the_text_unchanged(profile):
    text = '  右に回って!  '
    assert profile.messages(text) == [
        {'role': 'system', 'content': profile.system_prompt},
        {'role': 'user', 'content': text}]


def test_parse_command_with_ids_from_the_registry(profile, registry):
    content = _content('はい!', [{'name': 'Sit'},
                                 {'name': 'Move', 'parameter': {'x': 0.3, 'z': -0.5}}])
    answer = profile.parse(content)
    assert answer.reply == 'はい!' and answer.kind == 'command'
    assert [(a.name, a.api_id) for a in answer.intent] == [
        ('Sit', registry.get('Sit').api_id), ('Move', registry.get('Move').api_id)]
    assert answer.intent[1].parameter == {'x': 0.3, 'z': -0.5}
    assert answer.intent[0].parameter == {}


def test_parse_chat_and_volatile(profile):
    assert profile.parse(_content('I am Claudia.', [], 'chat')).intent == []
    answer = profile.parse(_content(' 晴れです ', [], 'volatile'))
    assert answer.kind == 'volatile' and answer.reply == '晴れです'


@pytest.mark.parametrize('content', [
    '', 'not json', '{"reply": "はい', 'null', '[]', '"text"',
])
def test_parse_rejects_non_json_or_non_object(profile, content):
    with pytest.raises(LLMMalformedOutput):
        profile.parse(content)


def test_parse_keeps_the_json_error_as_cause(profile):
    with pytest.raises(LLMMalformedOutput) as info:
        profile.parse('{"reply": ')
    assert isinstance(info.value.__cause__, ValueError)


@pytest.mark.parametrize('data, where', [
    ({'reply': 'x', 'actions': []}, "(root): 'kind' is a required"),
    ({'actions': [], 'kind': 'chat'}, "(root): 'reply' is a required"),
    ({'reply': 3, 'actions': [], 'kind': 'chat'}, 'reply:'),
    ({'reply': 'x', 'actions': {'name': 'Sit'}, 'kind': 'command'}, 'actions:'),
    ({'reply': 'x', 'actions': ['Sit'], 'kind': 'command'}, 'actions/0:'),
    ({'reply': 'x', 'actions': [{'name': 'Move', 'parameter': {'x': 'fast'}}],
      'kind': 'command'}, 'actions/0/parameter/x:'),
    ({'reply': 'x', 'actions': [{'name': 'Move', 'parameter': {'speed': 1}}],
      'kind': 'command'}, 'actions/0/parameter:'),
    ({'reply': 'x', 'actions': [{'name': 'Sit', 'api_id': 1}], 'kind': 'command'},
     'actions/0:'),
    ({'reply': 'x', 'actions': [], 'kind': 'joke'}, 'kind:'),
    ({'reply': 'x', 'actions': [], 'kind': 'chat', 'mood': 'happy'}, '(root):'),
    ({'reply': 'x', 'actions': [{'name': 'Sit'}] * 4, 'kind': 'command'}, 'actions:'),
])
def test_parse_rejects_schema_violations(profile, data, where):
    with pytest.raises(LLMMalformedOutput) as info:
        profile.parse(json.dumps(data))
    assert 'schema at %s' % where in str(info.value)


def test_parse_rejects_a_blank_reply(profile):
    with pytest.raises(LLMMalformedOutput, match='blank'):
        profile.parse(_content('  ', [], 'chat'))


@pytest.mark.parametrize('name', ['Fly', 'sit', '1009'])
def test_parse_rejects_unknown_action_names(profile, name):
    with pytest.raises(LLMMalformedOutput, match='not in the action table'):
        profile.parse(_content('ok', [{'name': name}]))


@pytest.mark.parametrize('name', ['Damp', 'Wallow'])  # from_llm: false; disabled
def test_parse_rejects_actions_not_offered_to_the_llm(profile, name):
    with pytest.raises(LLMMalformedOutput, match="'%s', not offered to the LLM" % name):
        profile.parse(_content('ok', [{'name': name}]))


def test_version_is_short_stable_and_follows_prompt_and_schema(registry):
    first = PromptProfile(registry, max_actions=3)
    again = PromptProfile(ActionRegistry.load(), max_actions=3)
    assert re.fullmatch(r'p2-[0-9a-f]{8}', first.version)
    assert first.version == again.version
    assert PromptProfile(registry, max_actions=2).version != first.version
    fewer = ActionRegistry(s for s in registry if s.name != 'Heart')
    assert PromptProfile(fewer, max_actions=3).version != first.version


def test_bad_arguments_raise(registry):
    with pytest.raises(ValueError):
        PromptProfile(registry, max_actions=0)
    with pytest.raises(ValueError):
        PromptProfile(ActionRegistry(s for s in registry if s.name == 'Damp'), 1)
