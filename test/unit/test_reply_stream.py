"""ReplyPieces and StreamedAnswer on their own: numbering, closing piece, muting, order."""
import time

from claudia_llm.core.llm.stream_parse import StreamEvents
from claudia_llm.core.record import Action, ResponseRecord
from claudia_llm.core.reply_stream import ReplyPieces, StreamedAnswer, rest_of


def pieces_of():
    sent = []
    record = ResponseRecord(request_id='r', utterance='u')
    return ReplyPieces(record, sent.append, time.perf_counter()), sent, record


def test_rest_of_follows_the_spoken_pieces():
    assert rest_of('Hi. How are you? Fine', ['Hi.', 'How are you?']) == 'Fine'
    assert rest_of('Hi. How are you?', ['Hi.', 'How are you?']) == ''
    assert rest_of('Something else', ['Hi.']) == ''
    assert rest_of('All of it.', []) == 'All of it.'


def test_pieces_are_numbered_and_closed_once_with_the_rest():
    pieces, sent, record = pieces_of()
    pieces.say('Hi.')
    pieces.say('')
    pieces.close('Hi. Bye')
    pieces.close('Hi. Bye')
    assert [(p.seq, p.text, p.final) for p in sent] == [(0, 'Hi.', False), (1, 'Bye', True)]
    assert 'first_reply' in record.latency_ms


def test_an_empty_reply_with_nothing_spoken_and_a_muted_reply_send_nothing():
    pieces, sent, _r = pieces_of()
    pieces.close('')
    muted, sent_muted, _r = pieces_of()
    muted.say('Hi.')
    muted.mute()
    muted.say('More.')
    muted.close('Hi. More.')
    assert sent == [] and [p.text for p in sent_muted] == ['Hi.']


def test_pieces_before_the_actions_wait_and_a_refused_reply_is_not_spoken():
    decided = []
    pieces, sent, _r = pieces_of()
    answer = StreamedAnswer(pieces, lambda actions: decided.append(actions) or True,
                            lambda: False)
    answer.on_event(StreamEvents(pieces=['Early.']))
    assert sent == [] and not answer.decided
    answer.on_event(StreamEvents(actions=[Action('Sit', 1009)], pieces=['Next.']))
    assert [p.text for p in sent] == ['Early.', 'Next.'] and len(decided) == 1

    refused, sent_refused, _r = pieces_of()
    answer = StreamedAnswer(refused, lambda actions: False, lambda: False)
    answer.on_event(StreamEvents(actions=[Action('FrontFlip', 1030)], pieces=['Flip!']))
    refused.close('Sorry, no.')
    assert [(p.text, p.final) for p in sent_refused] == [('Sorry, no.', True)]


def test_a_stream_that_starts_again_does_not_repeat_what_was_said_nor_decide_twice():
    decided = []
    pieces, sent, _r = pieces_of()
    answer = StreamedAnswer(pieces, lambda actions: decided.append(actions) or True,
                            lambda: False)
    answer.on_event(StreamEvents(actions=[Action('Sit', 1009)], pieces=['One.']))
    answer.on_event(StreamEvents(actions=[Action('Sit', 1009)], pieces=['One.']))
    answer.on_event(StreamEvents(pieces=['Two.']))
    assert [p.text for p in sent] == ['One.', 'Two.'] and len(decided) == 1


def test_after_an_emergency_stop_nothing_more_is_said():
    stopped = [False]
    pieces, sent, _r = pieces_of()
    answer = StreamedAnswer(pieces, lambda actions: True, lambda: stopped[0])
    answer.on_event(StreamEvents(actions=[], pieces=['One.']))
    stopped[0] = True
    answer.on_event(StreamEvents(pieces=['Two.']))
    pieces.close('One. Two.')
    assert [p.text for p in sent] == ['One.']
