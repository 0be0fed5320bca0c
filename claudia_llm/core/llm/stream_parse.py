"""Incremental parsing of a streamed answer.

The actions come out as soon as their list is closed, the reply in sentence-sized pieces
while it is generated.

The schema puts ``actions`` before ``reply`` (``prompt``), so the list is complete as
soon as the text so far closes as an object (its ``]`` came) or has a key after it. The
partial JSON is parsed with ``jiter`` (pydantic's Rust JSON parser, also what the
``openai`` client uses) in ``partial_mode='trailing-strings'``: it returns the object so
far, including the unfinished reply string. Chosen over ``ijson`` (event-based, but it
yields a string only when it is closed, so no reply pieces) and ``partial-json-parser``
(pure Python, slower); jiter 0.9.x has Python 3.8 wheels for the robot. Re-parsing the
whole prefix per chunk is cheap at these sizes (at most ``num_predict`` = 160 tokens).
"""
import re
from dataclasses import dataclass, field
from typing import Any, List, Optional

import jiter

from claudia_llm.core.errors import LLMMalformedOutput
from claudia_llm.core.record import Action

from .prompt import PromptProfile

# A reply piece ends after one of these (ja/zh full-width and ASCII) or a newline.
SENTENCE_END = re.compile(r'[。！？!?.\n]')
DEFAULT_MAX_PIECE_CHARS = 60


@dataclass
class StreamEvents:
    """What one ``feed`` learned.

    ``actions`` once (None before and after), new reply ``pieces`` (sentence-sized,
    stripped), and ``actions_error`` when the closed list is not valid (the final parse
    will reject the answer; nothing may be published early).
    """

    actions: Optional[List[Action]] = None
    pieces: List[str] = field(default_factory=list)
    actions_error: str = ''


class AnswerStream:
    """Feed the content chunks of one streamed answer in order.

    Args:
        profile: the prompt profile whose schema the answer follows.
        max_piece_chars: a reply piece is cut at this many characters when no sentence end
            came, >= 1.
    """

    def __init__(self, profile: PromptProfile,
                 max_piece_chars: int = DEFAULT_MAX_PIECE_CHARS):
        self.profile = profile
        self.max_piece_chars = max(1, int(max_piece_chars))
        self.content = ''
        self.actions: Optional[List[Action]] = None
        self.actions_closed = False
        self._reply_done = 0  # characters of the reply already sent as pieces

    def feed(self, chunk: str) -> StreamEvents:
        """Add ``chunk`` (a content piece of the stream); return what became known."""
        events = StreamEvents()
        self.content += chunk or ''
        data = self._partial()
        if not isinstance(data, dict):
            return events
        keys = list(data)
        if not self.actions_closed and 'actions' in keys and (
                keys[-1] != 'actions' or self._closes_here()):
            self.actions_closed = True
            try:
                self.actions = self.profile.parse_actions(data['actions'])
                events.actions = self.actions
            except LLMMalformedOutput as exc:
                events.actions_error = str(exc)
        reply = data.get('reply')
        if isinstance(reply, str):
            events.pieces = self._pieces(reply, final=keys[-1] != 'reply')
        return events

    def finish(self) -> List[str]:
        """The rest of the reply as a last piece (call when the stream has ended)."""
        data = self._partial()
        reply = data.get('reply') if isinstance(data, dict) else None
        return self._pieces(reply, final=True) if isinstance(reply, str) else []

    def _closes_here(self) -> bool:
        """Whether the content so far plus ``}`` is complete JSON.

        True means the list just closed (at its ``]`` token, a few tokens before the next
        key arrives).
        """
        try:
            jiter.from_json((self.content.rstrip().rstrip(',') + '}').encode('utf-8'))
        except ValueError:
            return False
        return True

    def _partial(self) -> Any:
        if not self.content.strip():
            return None
        try:
            return jiter.from_json(self.content.encode('utf-8'),
                                   partial_mode='trailing-strings')
        except ValueError:
            return None  # not JSON (yet or at all): the final parse reports it

    def _pieces(self, reply: str, final: bool) -> List[str]:
        pieces = []
        while True:
            rest = reply[self._reply_done:]
            match = SENTENCE_END.search(rest)
            if match is not None and match.end() <= self.max_piece_chars:
                cut = match.end()
            elif len(rest) >= self.max_piece_chars:
                cut = self.max_piece_chars
            elif final and rest:
                cut = len(rest)
            else:
                return pieces
            self._reply_done += cut
            if rest[:cut].strip():
                pieces.append(rest[:cut].strip())
