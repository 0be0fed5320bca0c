"""Parsing and checking of ``/claudia/utterance`` messages.

A message is plain text, or a JSON object ``{"text": str, "id"?: str,
"priority"?: "high"|"normal"|"low", "source"?: str}`` (DESIGN.md). Anything else
unusable raises ``InputError`` with a specific code, so the node can answer with an
error record instead of acting.
"""
import json
import re
import uuid
from dataclasses import dataclass
from typing import Union

from .errors import InputError

PRIORITIES = ('high', 'normal', 'low')
# C0 controls, DEL and invisible format characters (zero-width space/joiners, BOM):
# ASR and keyboards leave them in, and they would make a known command look new.
_CONTROL = re.compile('[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u2060\ufeff]')


@dataclass
class Utterance:
    """An accepted utterance: ``text`` is stripped and non-empty."""

    text: str
    request_id: str
    priority: str = 'normal'
    speaker: str = ''


def new_request_id() -> str:
    """Return a fresh request id (32 hex characters)."""
    return uuid.uuid4().hex


def decode(raw: Union[str, bytes], max_bytes: int) -> str:
    """Return ``raw`` as text.

    Raises:
        InputError: 'too_long' above ``max_bytes`` UTF-8 bytes, 'invalid_utf8' for bytes
            that are not UTF-8 (or text holding lone surrogates, as rclpy gives for them).
    """
    data = raw if isinstance(raw, bytes) else None
    if data is None:
        try:
            data = raw.encode('utf-8')
        except UnicodeEncodeError as exc:
            raise InputError('utterance is not valid UTF-8', 'invalid_utf8') from exc
    if len(data) > max_bytes:
        raise InputError('utterance is %d bytes, limit %d' % (len(data), max_bytes), 'too_long')
    try:
        return data.decode('utf-8')
    except UnicodeDecodeError as exc:
        raise InputError('utterance is not valid UTF-8', 'invalid_utf8') from exc


def parse_utterance(raw: Union[str, bytes], max_chars: int = 500,
                    max_bytes: int = 4096) -> Utterance:
    """Parse one message into an ``Utterance``.

    Text starting with ``{`` must be a JSON object with a string ``text``; other text is
    the utterance itself. Control characters are removed.

    Raises:
        InputError: with code 'empty', 'too_long', 'invalid_utf8' or 'invalid_json', and
            the message's ``id`` as ``request_id`` when it had one.
    """
    text = decode(raw, max_bytes).strip()
    request_id, priority, speaker = '', 'normal', ''
    data = _json_or_none(text)
    if data is not None:
        if isinstance(data, dict):
            request_id = str(data.get('id') or '')[:64]
        if not isinstance(data, dict) or not isinstance(data.get('text'), str):
            raise InputError('JSON utterance needs a string "text" field', 'invalid_json',
                             request_id)
        text = data['text'].strip()
        priority = data.get('priority', 'normal')
        if priority not in PRIORITIES:
            raise InputError('priority must be one of %s, got %r' % (PRIORITIES, priority),
                             'invalid_json', request_id)
        speaker = str(data.get('source') or '')[:64]
    text = _CONTROL.sub('', text).strip()
    if not text:
        raise InputError('utterance is empty', 'empty', request_id)
    if len(text) > max_chars:
        raise InputError('utterance is %d characters, limit %d' % (len(text), max_chars),
                         'too_long', request_id)
    return Utterance(text=text, request_id=request_id or new_request_id(), priority=priority,
                     speaker=speaker)


def _json_or_none(text: str):
    """JSON value of ``text`` if it is JSON; None for ordinary speech.

    Text opening with ``{`` must be JSON (a broken object is an error); text opening
    with ``[`` is JSON only if it parses (ASR writes things like "[laughs] hi").
    """
    if not text.startswith(('{', '[')):
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        if text.startswith('['):
            return None
        raise InputError('utterance looks like JSON but does not parse: %s' % exc,
                         'invalid_json') from exc
