"""parse_utterance: plain text, JSON objects and every kind of bad input."""
import json

import pytest

from claudia_llm.core.errors import InputError
from claudia_llm.core.inputs import decode, parse_utterance


def test_plain_text_is_stripped_and_gets_an_id():
    u = parse_utterance('  座って  ')
    assert u.text == '座って'
    assert len(u.request_id) == 32
    assert u.priority == 'normal'


def test_json_object_carries_id_priority_and_source():
    u = parse_utterance(json.dumps({'text': 'sit', 'id': 'r1', 'priority': 'high',
                                    'source': 'asr'}))
    assert (u.text, u.request_id, u.priority, u.speaker) == ('sit', 'r1', 'high', 'asr')


@pytest.mark.parametrize('raw, code', [
    ('', 'empty'),
    ('   \n\t ', 'empty'),
    ('\x00\x01', 'empty'),
    ('x' * 501, 'too_long'),
    ('{"text": 1}', 'invalid_json'),
    ('{"text": "sit", "priority": "urgent"}', 'invalid_json'),
    ('{not json', 'invalid_json'),
    ('["a list"]', 'invalid_json'),
    (b'\xff\xfe sit', 'invalid_utf8'),
    ('\udcff sit', 'invalid_utf8'),
    ('{"text": "   "}', 'empty'),
])
def test_bad_input_raises_a_specific_code(raw, code):
    with pytest.raises(InputError) as info:
        parse_utterance(raw, max_chars=500)
    assert info.value.code == code


def test_byte_limit_is_checked_before_decoding():
    with pytest.raises(InputError) as info:
        decode('あ' * 2000, max_bytes=4096)
    assert info.value.code == 'too_long'


def test_errors_keep_the_callers_request_id():
    with pytest.raises(InputError) as info:
        parse_utterance('{"text": "  ", "id": "r9"}')
    assert info.value.request_id == 'r9' and info.value.code == 'empty'


def test_control_characters_are_removed():
    assert parse_utterance('sit\x07 down').text == 'sit down'


def test_bracketed_asr_text_is_speech():
    assert parse_utterance('[laughs] sit').text == '[laughs] sit'


def test_zero_width_characters_do_not_hide_a_known_command():
    assert parse_utterance('\u200b座って\ufeff').text == '座って'
