"""What a streamed LLM call tells its waiters before the result: actions once, reply pieces.

``EventRelay`` feeds the content chunks of one LLM call (``OllamaChat.chat``'s
``on_chunk``) to an ``AnswerStream`` (``core.llm.stream_parse``) and hands each
``StreamEvents`` that says something to every listener: the in-process scheduler's
coalesced waiters, or the Redis worker's partial-entry sender (``partials``). A listener
that joins late gets what was already said first, so every waiter sees the actions once.
A listener that raises is logged and skipped; it never ends the call.

Bounded: at most ``max_events`` events per call (the actions plus sentence-sized pieces
of an answer of at most ``num_predict`` tokens fit well below the default); later pieces
are dropped (the final reply still carries all of them).
"""
import json
import logging
from typing import Any, Callable, Iterable, List, Optional

from claudia_llm.core.record import Action

from ..stream_parse import AnswerStream, StreamEvents

log = logging.getLogger(__name__)

OnEvent = Callable[[StreamEvents], None]
"""Called synchronously, on the event loop, with each ``StreamEvents`` of an answer."""

MAX_EVENTS = 64


def says_something(events: StreamEvents) -> bool:
    """True when ``events`` carries actions, an actions error or reply pieces."""
    return events.actions is not None or bool(events.actions_error) or bool(events.pieces)


class EventRelay:
    """Parse one call's chunks and fan the events out.

    Args:
        llm: the LLM client; its ``profile`` (a ``PromptProfile``) parses the stream. A
            client without one gives no events (test doubles).
        listeners: returns the current listeners (called per event, so waiters that
            joined or left are seen).
        max_events: most events handed out per call, >= 1.
    """

    def __init__(self, llm: Any, listeners: Callable[[], Iterable[OnEvent]],
                 max_events: int = MAX_EVENTS):
        profile = getattr(llm, 'profile', None)
        self.stream = AnswerStream(profile) if profile is not None else None
        self.listeners = listeners
        self.max_events = max(1, int(max_events))
        self.sent: List[StreamEvents] = []

    def on_chunk(self, chunk: str) -> None:
        """``on_chunk`` of the LLM call: parse ``chunk``, hand out what became known."""
        if self.stream is None or len(self.sent) >= self.max_events:
            return
        events = self.stream.feed(chunk)
        if not says_something(events):
            return
        self.sent.append(events)
        for listener in list(self.listeners()):
            deliver(listener, events)

    def replay(self, listener: Optional[OnEvent]) -> None:
        """Give a listener that joins now every event already handed out, in order."""
        if listener is None:
            return
        for events in list(self.sent):
            deliver(listener, events)


def deliver(listener: OnEvent, events: StreamEvents) -> None:
    """Call ``listener(events)``; an exception is logged, never raised."""
    try:
        listener(events)
    except Exception:  # noqa: BLE001 - one bad listener must not end the call
        log.exception('stream event listener failed')


def events_to_json(events: StreamEvents) -> str:
    """Wire form of ``events`` (JSON text, non-ASCII kept).

    Shape: ``{"actions": [{"name", "api_id", "parameter"}] | null, "pieces": [str],
    "actions_error": str}``.
    """
    actions = None if events.actions is None else [a.to_dict() for a in events.actions]
    return json.dumps({'actions': actions, 'pieces': list(events.pieces),
                       'actions_error': events.actions_error}, ensure_ascii=False)


def events_from_json(text: Any) -> StreamEvents:
    """Inverse of ``events_to_json`` (str or bytes).

    Raises:
        ValueError, KeyError, TypeError: ``text`` is not of that shape.
    """
    data = json.loads(text.decode('utf-8') if isinstance(text, bytes) else text)
    actions = data.get('actions')
    return StreamEvents(
        actions=None if actions is None else [
            Action(str(a['name']), int(a['api_id']), dict(a.get('parameter') or {}))
            for a in actions],
        pieces=[str(p) for p in data.get('pieces') or []],
        actions_error=str(data.get('actions_error') or ''))
