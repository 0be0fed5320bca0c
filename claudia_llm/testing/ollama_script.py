r"""Scripted behaviour of the Ollama-protocol test server.

A script is JSON: a list of rules, or ``{"service_time_s"?: float, "rules": [...]}``.
Rules are tried in order against the last user message of a request; the first match wins.
Each rule has exactly one matcher and any of the behaviours::

    {"match": "exact text"} | {"regex": "python regex, re.search"}
    "content":         str, or any JSON value (sent as its JSON text; an object's keys in
                       the order of the request's ``format`` properties): the content
    "delay_s":         service time of this request in its slot, seconds (replaces the
                       server's), or for "status" rules the wait before the error answer
    "status":          HTTP status to answer with (e.g. 500, 503), body {"error": ...}
    "error":           the error text for "status"
    "malformed":       true: content that is not valid JSON (a truncated default answer
                       with done_reason "length", or "content" as given)
    "hang":            true: take a slot and never answer until the client goes away
                       or the server stops
    "endless":         true: stream whitespace-only chunks (every 10 ms) that never finish,
                       until the client goes away or the server stops (a model stuck on
                       whitespace); without streaming it behaves like "hang"
    "model_not_found": true: 404 {"error": "model \"M\" not found, try pulling it first"}
    "done_reason":     override ("stop" by default)

With no matching rule the answer is a valid instance of the request's ``format`` JSON
schema: the reply string is a generic chat reply in the user's language, arrays are
empty, an enum takes "chat" when it has it. Without ``format`` the reply is plain text.
"""
import json
import re
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

RULE_KEYS = ('match', 'regex', 'content', 'delay_s', 'status', 'error', 'malformed', 'hang',
             'endless',
             'model_not_found', 'done_reason')

GENERIC_REPLIES = {
    'ja': 'はい、クラウディアです。何かご用ですか?',
    'zh': '你好,我是克劳迪娅。有什么事吗?',
    'en': "Hi, I'm Claudia. What can I do for you?",
}


class Rule:
    """One scripted behaviour; see the module docstring for the keys."""

    def __init__(self, data: Mapping[str, Any]):
        unknown = sorted(set(data) - set(RULE_KEYS))
        if unknown:
            raise ValueError('unknown rule keys %s in %r' % (unknown, dict(data)))
        if ('match' in data) == ('regex' in data):
            raise ValueError('a rule needs exactly one of "match" or "regex": %r' % dict(data))
        self.data = dict(data)
        self.match = data.get('match')
        self.regex = re.compile(data['regex']) if 'regex' in data else None
        content = data.get('content')
        self.value = content if isinstance(content, dict) else None  # reordered per schema
        self.content = (content if content is None or isinstance(content, str)
                        else json.dumps(content, ensure_ascii=False))
        self.delay_s = None if data.get('delay_s') is None else float(data['delay_s'])
        self.status = None if data.get('status') is None else int(data['status'])
        self.error = data.get('error')
        self.malformed = bool(data.get('malformed', False))
        self.hang = bool(data.get('hang', False))
        self.endless = bool(data.get('endless', False))
        self.model_not_found = bool(data.get('model_not_found', False))
        self.done_reason = data.get('done_reason')

    def matches(self, text: str) -> bool:
        """True when ``text`` (the last user message) selects this rule."""
        if self.regex is not None:
            return self.regex.search(text) is not None
        return text == self.match


class Script:
    """An ordered list of rules and an optional service time that replaces the server's."""

    def __init__(self, rules: Optional[List[Rule]] = None,
                 service_time_s: Optional[float] = None):
        self.rules = list(rules or [])
        self.service_time_s = service_time_s

    @classmethod
    def from_data(cls, data: Union[None, List[Any], Mapping[str, Any]]) -> 'Script':
        """Build from the JSON form (list of rules or ``{"service_time_s", "rules"}``).

        Raises:
            ValueError: unknown keys, a rule without exactly one matcher, a bad regex.
        """
        if data is None:
            return cls()
        if isinstance(data, list):
            return cls([Rule(r) for r in data])
        unknown = sorted(set(data) - {'rules', 'service_time_s'})
        if unknown:
            raise ValueError('unknown script keys %s' % unknown)
        service = data.get('service_time_s')
        return cls([Rule(r) for r in data.get('rules') or []],
                   None if service is None else float(service))

    @classmethod
    def load(cls, path: str) -> 'Script':
        """Read a script file (UTF-8 JSON). Raises ValueError / OSError."""
        with open(path, encoding='utf-8') as stream:
            return cls.from_data(json.load(stream))

    def find(self, text: str) -> Tuple[Optional[int], Optional[Rule]]:
        """Return ``(index, rule)`` of the first rule matching ``text``, or ``(None, None)``."""
        for index, rule in enumerate(self.rules):
            if rule.matches(text):
                return index, rule
        return None, None


def language_of(text: str) -> str:
    """'ja' when ``text`` has kana, 'zh' when it has CJK ideographs only, else 'en'."""
    if re.search('[\u3040-\u30ff]', text):
        return 'ja'
    if re.search('[\u4e00-\u9fff]', text):
        return 'zh'
    return 'en'


def instance_of(schema: Mapping[str, Any], reply: str) -> Any:
    """Return a small valid instance of a JSON ``schema`` (the subset Ollama's grammar takes).

    Objects get their required properties, arrays their ``minItems`` items, strings
    ``reply``, numbers 0, enums "chat" if listed else their first value.
    """
    if 'const' in schema:
        return schema['const']
    if 'enum' in schema:
        return 'chat' if 'chat' in schema['enum'] else schema['enum'][0]
    kind = schema.get('type')
    if isinstance(kind, list):
        kind = kind[0]
    if kind == 'object':
        props = schema.get('properties') or {}
        required = schema.get('required') or []
        return {name: instance_of(props.get(name) or {}, reply) for name in required}
    if kind == 'array':
        return [instance_of(schema.get('items') or {}, reply)
                for _ in range(int(schema.get('minItems', 0)))]
    if kind in ('number', 'integer'):
        return 0
    if kind == 'boolean':
        return False
    if kind == 'null':
        return None
    return reply


def default_content(fmt: Any, user_text: str) -> str:
    """The answer when no rule matches: schema-conforming JSON, ``{}``-style JSON or text."""
    reply = GENERIC_REPLIES[language_of(user_text)]
    if isinstance(fmt, dict):
        return json.dumps(instance_of(fmt, reply), ensure_ascii=False)
    if fmt == 'json':
        return json.dumps({'reply': reply}, ensure_ascii=False)
    return reply


def in_schema_order(value: Mapping[str, Any], schema: Mapping[str, Any]) -> Dict[str, Any]:
    """``value``'s keys in the order of the schema's ``properties``, the others after.

    A JSON-object content of a rule is sent this way because a grammar built from the
    schema (Ollama's ``format``, json_schema ``response_format``) emits that order.
    """
    order = list((schema.get('properties') or {}).keys())
    first = [k for k in order if k in value]
    rest = [(k, v) for k, v in value.items() if k not in first]
    return dict([(k, value[k]) for k in first] + rest)


def answer_for(rule: Optional[Rule], fmt: Any, user_text: str) -> Tuple[str, str]:
    """Return ``(content, done_reason)`` for a request answered with ``rule`` (or none)."""
    if rule is not None and rule.content is not None:
        content = rule.content
        if rule.value is not None and isinstance(fmt, dict):
            content = json.dumps(in_schema_order(rule.value, fmt), ensure_ascii=False)
        return content, rule.done_reason or ('length' if rule.malformed else 'stop')
    content = default_content(fmt, user_text)
    if rule is not None and rule.malformed:
        return content[:max(1, len(content) // 2)], rule.done_reason or 'length'
    return content, (rule.done_reason if rule is not None and rule.done_reason else 'stop')


def last_user_text(messages: List[Dict[str, Any]]) -> str:
    """Content of the last message whose role is 'user' ('' when there is none)."""
    for message in reversed(messages):
        if message.get('role') == 'user':
            return str(message.get('content') or '')
    return ''
