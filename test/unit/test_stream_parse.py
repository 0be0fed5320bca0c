"""AnswerStream: actions as soon as their list closes, reply pieces, bad lists (no network)."""
import json

import pytest

from claudia_llm.core.errors import LLMMalformedOutput
from claudia_llm.core.llm.prompt import PromptProfile
from claudia_llm.core.llm.stream_parse import AnswerStream
from claudia_llm.core.safety.actions import ActionRegistry
from claudia_llm.testing.qwen_tokens import token_pieces


@pytest.fixture(scope='module')
def profile():
    return PromptProfile(ActionRegistry.load(), max_actions=4)


def _feed_all(stream, content):
    """Feed ``content`` token by token; return (index of the chunk that gave the actions,
    the actions, all pieces, chunk count)."""
    chunks = token_pieces(content)
    at, actions, pieces = None, None, []
    for index, chunk in enumerate(chunks):
        events = stream.feed(chunk)
        if events.actions is not None:
            assert at is None, 'actions are reported once'
            at, actions = index, events.actions
        pieces += events.pieces
    return at, actions, pieces + stream.finish(), len(chunks)


def test_actions_come_when_the_list_closes_long_before_the_end(profile):
    content = json.dumps({'actions': [{'name': 'Sit'}, {'name': 'Hello'}],
                          'reply': 'はい、座ります。それから挨拶します！', 'kind': 'command'},
                         ensure_ascii=False)
    at, actions, pieces, count = _feed_all(AnswerStream(profile), content)
    assert [a.name for a in actions] == ['Sit', 'Hello']
    assert actions[0].api_id == profile.registry.get('Sit').api_id
    prefix = ''.join(token_pieces(content)[:at + 1])
    # at the token with the list's own ']', before the next key
    assert prefix.rstrip().rstrip(',').endswith(']') and 'reply' not in prefix
    assert pieces == ['はい、座ります。', 'それから挨拶します！']
    assert ''.join(pieces) == profile.parse(content).reply


def test_reply_pieces_split_at_sentence_ends_and_the_length_limit(profile):
    reply = 'Sure. I can do that! ' + 'x' * 25 + '\nok'
    content = json.dumps({'actions': [], 'reply': reply, 'kind': 'chat'})
    _at, actions, pieces, _n = _feed_all(AnswerStream(profile, max_piece_chars=10), content)
    assert actions == []
    assert pieces == ['Sure.', 'I can do', 'that!', 'x' * 9, 'x' * 10, 'x' * 6, 'ok']


def test_a_bad_action_list_is_reported_and_gives_no_actions(profile):
    content = '{"actions": [{"name": "Fly"}], "reply": "ok", "kind": "command"}'
    stream = AnswerStream(profile)
    errors = [stream.feed(c).actions_error for c in token_pieces(content)]
    assert stream.actions is None and any('not in the action table' in e for e in errors)
    with pytest.raises(LLMMalformedOutput):
        profile.parse(content)


def test_not_json_gives_nothing(profile):
    stream = AnswerStream(profile)
    events = [stream.feed(c) for c in ('hello ', 'there')]
    assert all(e.actions is None and not e.pieces for e in events)
    assert stream.finish() == []


def test_parse_actions_validates_like_parse(profile):
    assert [a.name for a in profile.parse_actions([{'name': 'Move', 'parameter': {'z': 1}}])
            ] == ['Move']
    with pytest.raises(LLMMalformedOutput):
        profile.parse_actions([{'name': 'Sit'}] * 5)
    with pytest.raises(LLMMalformedOutput):
        profile.parse_actions([{'name': 'Damp'}])
