"""parse_utterance: plain text, JSON objects and every kind of bad input."""
import json

import pytest

from claudia_llm.core.errors import InputError
from claudia_llm.core.understanding.inputs import (
    ID_RECOVERY_MAX_BYTES,
    decode,
    parse_utterance,
    request_id_of,
)


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


@pytest.mark.parametrize('field, value, record_id', [
    ('id', {}, ''), ('id', ['r1'], ''), ('id', 7, '7'), ('id', True, ''),
    ('id', 'r' * 65, 'r' * 64),
    ('source', {'x': 1}, 'r1'), ('source', 7, 'r1'),
    ('seq', '3', 'r1'), ('seq', 1.5, 'r1'), ('seq', -1, 'r1'), ('seq', True, 'r1'),
])
def test_an_envelope_field_of_the_wrong_type_is_refused_naming_the_field(field, value,
                                                                         record_id):
    body = {'text': '座って', 'id': 'r1', field: value}
    with pytest.raises(InputError) as info:
        parse_utterance(json.dumps(body))
    assert info.value.code == 'invalid_json' and '"%s"' % field in str(info.value)
    assert info.value.request_id == record_id


@pytest.mark.parametrize('body', [{'text': 'sit', 'id': None, 'source': None, 'seq': None},
                                  {'text': 'sit', 'id': '', 'seq': 0},
                                  {'text': 'sit', 'id': 'r' * 64, 'source': 's' * 300}])
def test_null_empty_and_longest_fields_are_accepted(body):
    u = parse_utterance(json.dumps(body))
    assert u.text == 'sit' and len(u.request_id) in (32, 64) and len(u.speaker) <= 64


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


# rclpy hands invalid UTF-8 in a std_msgs/String over as U+FFFD (errors='replace').
@pytest.mark.parametrize('raw', [
    b'\xff\xe5\xba'.decode('utf-8', 'replace'),
    ('座って'.encode() + b'\xff').decode('utf-8', 'replace'),
    '\ufffd',
    '{"text": "sit \\ufffd"}',  # the JSON escape of it
    json.dumps({'text': 'sit', 'source': 'asr\ufffd'}, ensure_ascii=False),
])
def test_replacement_character_is_refused_as_invalid_utf8(raw):
    with pytest.raises(InputError) as info:
        parse_utterance(raw)
    assert info.value.code == 'invalid_utf8'
    assert 'UTF-8' in str(info.value) and 'U+FFFD' in str(info.value)


@pytest.mark.parametrize('raw', [
    json.dumps({'text': '座って\ufffd', 'id': 'u1'}, ensure_ascii=False),
    json.dumps({'text': '座って\ufffd', 'id': 'u1'}),
    ('{"text": "座って' + '\ufffd' + '", "id": "u1", "priority": "urgent"}'),
    b'{"text": "' + '座って'.encode() + b'\xff", "id": "u1"}',
    b'{"text": "\xff\xe5\xba", "id": "u1"}',
])
def test_invalid_utf8_keeps_the_callers_request_id(raw):
    with pytest.raises(InputError) as info:
        parse_utterance(raw)
    assert (info.value.code, info.value.request_id) == ('invalid_utf8', 'u1')


def test_too_long_json_keeps_the_callers_request_id():
    raw = json.dumps({'text': 'x' * 5000, 'id': 'big-1', 'priority': 'high'})
    with pytest.raises(InputError) as info:
        parse_utterance(raw, max_bytes=4096)
    assert (info.value.code, info.value.request_id) == ('too_long', 'big-1')
    assert '4096' in str(info.value)


def test_too_long_bytes_keep_the_callers_request_id():
    raw = json.dumps({'text': 'あ' * 3000, 'id': 'big-2'}, ensure_ascii=False).encode()
    with pytest.raises(InputError) as info:
        parse_utterance(raw, max_bytes=4096)
    assert (info.value.code, info.value.request_id) == ('too_long', 'big-2')


def test_beyond_the_recovery_bound_the_id_is_not_parsed():
    raw = json.dumps({'id': 'huge-1', 'text': 'x' * ID_RECOVERY_MAX_BYTES})
    assert request_id_of(raw) == ''
    with pytest.raises(InputError) as info:
        parse_utterance(raw)
    assert (info.value.code, info.value.request_id) == ('too_long', '')


def test_recovery_bound_counts_utf8_bytes_not_characters():
    filler = 'あ' * (ID_RECOVERY_MAX_BYTES // 3 + 10)  # fewer characters, more bytes
    raw = json.dumps({'id': 'wide-1', 'text': filler}, ensure_ascii=False)
    assert len(raw) < ID_RECOVERY_MAX_BYTES < len(raw.encode('utf-8'))
    assert request_id_of(raw) == ''
    assert request_id_of(raw[:ID_RECOVERY_MAX_BYTES // 4] + '"}') == 'wide-1'


@pytest.mark.parametrize('raw, request_id', [
    ('x' * 5000, ''), ('{broken' + 'x' * 5000, ''), ('["list"]', ''),
    ('{"text": ' + '[' * 5000, ''), (b'\xff' * 10, ''), ('{"id": 7, "text": "x"}', '7'),
    (' {"id": "' + 'i' * 100 + '"}', 'i' * 64),
])
def test_request_id_of_never_raises(raw, request_id):
    assert request_id_of(raw) == request_id


def test_deeply_nested_json_is_invalid_json_not_a_crash():
    with pytest.raises(InputError) as info:
        parse_utterance('{"text": ' + '[' * 2000 + ']' * 2000 + '}')
    assert info.value.code == 'invalid_json'


def test_escaped_lone_surrogate_is_invalid_utf8_with_the_callers_id():
    raw = '{"text": "\\ud800座って", "id": "s1"}'
    with pytest.raises(InputError) as info:
        parse_utterance(raw)
    assert (info.value.code, info.value.request_id) == ('invalid_utf8', 's1')


def test_lone_surrogate_in_id_or_source_is_escaped_not_raised():
    u = parse_utterance('{"text": "sit", "id": "a\\udc80", "source": "\\udfff"}')
    assert (u.request_id, u.speaker) == ('a\\udc80', '\\udfff')
    u.request_id.encode('utf-8')
    u.speaker.encode('utf-8')


@pytest.mark.parametrize('hidden', ['\u202e', '\u202d', '\u202a', '\u2066', '\u2069',
                                    '\u00ad', '\u0085', '\x9b', '\u2061'])
def test_bidi_controls_soft_hyphen_and_c1_controls_do_not_hide_a_known_command(hidden):
    assert parse_utterance(hidden + '座って' + hidden).text == '座って'
    assert parse_utterance('{"text": "st%sand up"}' % hidden).text == 'stand up'
