"""Response records serialise to the DESIGN.md shape with readable Japanese."""
import json

from claudia_llm.core.record import Action, Answer, ResponseRecord
from claudia_llm.core.replies import fallback_reply, language_of


def test_record_json_keeps_non_ascii_and_has_every_field():
    rec = ResponseRecord(request_id='r1', utterance='座って', reply='座ります',
                         intent=['Sit'], actions=[Action('Sit', 1009)], source='exact')
    text = rec.to_json()
    assert '座って' in text and '\\u' not in text
    data = json.loads(text)
    for key in ('request_id', 'stamp', 'utterance', 'normalized', 'reply', 'intent',
                'actions', 'source', 'model', 'latency_ms', 'error'):
        assert key in data
    assert data['actions'] == [{'name': 'Sit', 'api_id': 1009, 'parameter': {}}]


def test_action_message_only_with_actions():
    rec = ResponseRecord(request_id='r1', utterance='hi')
    assert rec.action_message() is None
    rec.actions = [Action('Hello', 1016)]
    data = json.loads(rec.action_message())
    assert set(data) == {'request_id', 'stamp', 'source', 'actions'}


def test_answer_round_trip():
    answer = Answer('ok', [Action('Move', 1008, {'x': 0.3})], kind='command')
    assert Answer.from_dict(answer.to_dict()) == answer


def test_fallback_reply_follows_the_speakers_language():
    assert language_of('座って') == 'ja' and language_of('坐下') == 'zh'
    assert language_of('sit') == 'en'
    assert fallback_reply('llm_unavailable', '踊って').startswith('ごめんなさい')
    assert fallback_reply('empty', '') == "Sorry, I didn't catch that."
    assert fallback_reply('cancelled', 'sit') == ''
    assert fallback_reply('llm_http_error', '坐下') == fallback_reply('llm_malformed_output', '坐')
