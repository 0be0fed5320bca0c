"""An answer's reply pieces (``/claudia/reply_partial``) and an LLM answer while it streams.

``ReplyPieces`` numbers and publishes the pieces of one record: sentence-sized pieces
while an LLM answer streams, then one closing piece with ``final`` True when the record
is published (what is left of the reply; all of it for cached, emergency and fallback
answers, which so give exactly one piece). A muted reply (an emergency stop overtook the
answer, or the policy replaced the reply) publishes nothing more.

``StreamedAnswer`` is the ``on_event`` of one streamed LLM request (the scheduler's
``StreamEvents``): when the action list closes it asks the pipeline to decide them (safety
policy on the robot state of that moment, then ``/claudia/action`` at once); reply pieces
are spoken once the actions are decided and only if the policy kept the reply (else its
own reply is the closing piece); pieces that come before the actions (a server that
ignores the schema's order) wait for them.
"""
import logging
import time
from typing import Any, Callable, List, Optional

from .errors import LLMError, RequestCancelled
from .record import Action, ReplyPiece, ResponseRecord
from .replies import fallback_reply

log = logging.getLogger('claudia_llm.core.pipeline')

PublishPiece = Callable[[ReplyPiece], None]


class ReplyPieces:
    """The reply pieces of one record.

    Args:
        record: the record being answered (its ``request_id`` names the pieces; the time
            of the first piece goes to ``latency_ms['first_reply']``).
        publish: called with each ``ReplyPiece``; None: pieces are counted, not sent.
        received: ``time.perf_counter()`` of the utterance's arrival (latency base), s.
    """

    def __init__(self, record: ResponseRecord, publish: Optional[PublishPiece],
                 received: float):
        self.record, self.publish, self.received = record, publish, received
        self.spoken = []  # type: List[str]
        self.muted = False
        self.closed = False

    def say(self, text: str) -> None:
        """Publish ``text`` as the next piece (not final); nothing when muted or closed."""
        if text and not self.muted and not self.closed:
            self._send(text, final=False)
            self.spoken.append(text)

    def mute(self) -> None:
        """Publish nothing more for this record (not even the closing piece)."""
        self.muted = True

    def spoken_text(self) -> str:
        """The pieces already published, joined (a space between two ASCII ends)."""
        text = ''
        for piece in self.spoken:
            gap = ' ' if text and text[-1].isascii() and piece[0].isascii() else ''
            text += gap + piece
        return text

    def close(self, reply: str) -> None:
        """Publish the closing piece: what ``reply`` has after the spoken pieces, final.

        Nothing when muted, already closed, or when the reply is empty and nothing was
        spoken (a cancelled answer says nothing).
        """
        if self.closed:
            return
        self.closed = True
        if self.muted or not (reply or self.spoken):
            return
        self._send(rest_of(reply, self.spoken), final=True)

    def _send(self, text: str, final: bool) -> None:
        seq = len(self.spoken)
        if seq == 0 and 'first_reply' not in self.record.latency_ms:
            self.record.latency_ms['first_reply'] = (time.perf_counter() - self.received) * 1e3
        if self.publish is not None:
            self.publish(ReplyPiece(self.record.request_id, seq, text, final))


def rest_of(reply: str, spoken: List[str]) -> str:
    """What ``reply`` says after the ``spoken`` pieces (each a stripped part of it, in order).

    A reply that does not continue the spoken pieces gives '' (what was said stays said).
    """
    at = 0
    for piece in spoken:
        found = reply.find(piece, at)
        if found < 0:
            return ''
        at = found + len(piece)
    return reply[at:].strip()


class StreamedAnswer:
    """``on_event`` of one streamed LLM request; see the module docstring.

    Args:
        pieces: the record's ``ReplyPieces``.
        decide: ``decide(actions) -> bool`` runs the policy on the closed action list and
            publishes what it lets through; returns whether the LLM's reply still stands.
        stopped: True once an emergency stop overtook this request.
    """

    def __init__(self, pieces: ReplyPieces, decide: Callable[[List[Action]], bool],
                 stopped: Callable[[], bool]):
        self.pieces, self.decide, self.stopped = pieces, decide, stopped
        self.decided = False  # the action list closed and went through the policy
        self.reply_stands = True  # the policy kept the LLM's reply
        self._held = []  # type: List[str]
        self._rejected = False
        self._skip = 0

    def on_event(self, events: Any) -> None:
        """Handle one ``StreamEvents``: ``actions``, ``actions_error``, ``pieces``."""
        if self.stopped():
            self.pieces.mute()
            return
        if events.actions_error:
            self._rejected = True  # the answer will be rejected: its reply is not spoken
        if events.actions is not None and self.decided:
            # The answer streams again (moved to the in-process queue when Redis went
            # away): its first pieces were already spoken.
            self._skip = len(self.pieces.spoken)
        if events.actions is not None and not self.decided:
            self.decided = True
            self.reply_stands = self.decide(list(events.actions))
            texts, self._held = self._held, []
            self._say(texts)
        if self.decided:
            self._say(events.pieces)
        else:
            self._held.extend(events.pieces)

    def _say(self, texts: List[str]) -> None:
        if self.reply_stands and not self._rejected:
            for text in texts:
                if self._skip > 0:
                    self._skip -= 1
                else:
                    self.pieces.say(text)


def fail_after_actions(record: ResponseRecord, exc: LLMError, pieces: ReplyPieces,
                       stopped: bool) -> None:
    """Record ``exc`` for a streamed answer whose actions already went out (kept as they are).

    The reply is what was already spoken (else the error's fallback reply); nothing more
    is said when the answer was cancelled or an emergency stop (``stopped``) overtook it.
    """
    record.set_error(exc.code, str(exc))
    if isinstance(exc, RequestCancelled) or stopped:
        pieces.mute()
        record.reply = ''  # the robot has just said it is stopping
    else:
        record.reply = pieces.spoken_text() or fallback_reply(exc.code, record.utterance)
    log.info('request %s: %s after its actions were published (%s)', record.request_id,
             exc.code, exc)
