"""The prompt profile: Claudia's system prompt, the JSON schema the LLM must fill, parsing.

The schema is sent as Ollama's ``format`` (structured outputs: Ollama turns it into a
grammar, so a well-behaved model can only emit JSON of this shape; we validate again,
because a truncated answer or another server may not). Its shape::

    {"actions": [{"name": <action>, "parameter"?: {"x"?: num, ...}}], "reply": str,
     "kind": "command" | "chat" | "volatile"}

The actions come first: Ollama's grammar (and a json_schema ``response_format``) emits the
properties in schema order, so the first ~10 tokens of a streamed answer already decide the
actions, which can be checked and published before the reply is complete.

The system prompt is kept under 600 Qwen2.5 tokens (``test_prompt`` counts it): after a
keep_alive expiry or a reboot every prompt token is prefilled again (~400 tokens/s on an Orin).

Action names and their ja/zh/en names come from the action registry
(``config/go2_actions.yaml``); the LLM never sees or writes sport API ids.
"""
import hashlib
import json
from typing import Any, Dict, List

import jsonschema

from claudia_llm.core.errors import LLMMalformedOutput
from claudia_llm.core.record import Action, Answer
from claudia_llm.core.safety.actions import ActionRegistry, ActionSpec

KINDS = ('command', 'chat', 'volatile')
PROFILE_FORMAT = 'p2'  # bump when the meaning of the schema or of parse() changes

# Sign conventions of SportClient.Move(vx, vy, vyaw) and Euler(roll, pitch, yaw)
# (unitree_sdk2 go2/sport/sport_client.hpp; body frame: x forward, y left, z up).
PARAMETER_HINTS = {
    ('Move', 'x'): '+forward', ('Move', 'y'): '+left', ('Move', 'z'): '+turn left',
    ('Euler', 'x'): 'roll', ('Euler', 'y'): 'pitch', ('Euler', 'z'): 'yaw',
}

_PERSONA = """\
You are Claudia, a friendly Unitree Go2 robot dog.
Answer in JSON {"actions": [...], "reply": ..., "kind": ...}:
- actions: the physical actions asked for, in order, only names listed below; [] \
if none. No StandUp before other actions.
- reply: a short warm sentence in the user's language.
- kind: "command" with actions; else "volatile" if it depends on time, weather or \
battery; else "chat".
A greeting gets Hello. A question (who are you, what can you do) is no command. Move \
without a direction or anything unclear: ask back, no action.
Example:
向左转一点 -> {"actions":[{"name":"Move","parameter":{"z":0.5}}],"reply":"好的。",\
"kind":"command"}
"""


class PromptProfile:
    """System prompt, output schema and parser for one action registry.

    Args:
        registry: the Go2 action table; the LLM may name ``registry.llm_names()`` only.
        max_actions: most actions per answer (schema ``maxItems``), >= 1.

    Raises:
        ValueError: ``max_actions`` < 1 or the registry offers the LLM no action.
    """

    def __init__(self, registry: ActionRegistry, max_actions: int):
        if max_actions < 1:
            raise ValueError('max_actions must be >= 1, got %r' % max_actions)
        self.registry = registry
        self.max_actions = max_actions
        self.names = registry.llm_names()
        if not self.names:
            raise ValueError('the action registry offers the LLM no action')
        self.schema = self._schema()
        jsonschema.Draft7Validator.check_schema(self.schema)
        self._validator = jsonschema.Draft7Validator(self.schema)
        self.system_prompt = _PERSONA + '\n' + self._action_list()
        digest = hashlib.sha256((self.system_prompt + '\n' + json.dumps(
            self.schema, sort_keys=True, ensure_ascii=False)).encode('utf-8')).hexdigest()
        self.version = '%s-%s' % (PROFILE_FORMAT, digest[:8])

    def messages(self, text: str) -> List[Dict[str, str]]:
        """Chat messages for ``text``: ``[{"role": "system", ...}, {"role": "user", ...}]``."""
        return [{'role': 'system', 'content': self.system_prompt},
                {'role': 'user', 'content': text}]

    def parse(self, content: str) -> Answer:
        """Turn the LLM's message content into an ``Answer`` (actions with sport API ids).

        Parameters are kept as given (numbers); clamping is the safety policy's job.

        Raises:
            LLMMalformedOutput: not JSON, not of the schema, or an action name the
                registry does not offer to the LLM.
        """
        try:
            data = json.loads(content)
        except (TypeError, ValueError) as exc:
            raise LLMMalformedOutput('LLM output is not JSON: %s: %r'
                                     % (exc, _clip(content))) from exc
        self._validate(data, content)
        return Answer(reply=data['reply'].strip(), intent=self._intent(data['actions']),
                      kind=data['kind'])

    def parse_actions(self, items: Any) -> List[Action]:
        """Turn a closed ``actions`` list alone into actions (a stream's early actions).

        Validated as in ``parse`` (a placeholder reply and kind complete the object).

        Raises:
            LLMMalformedOutput: the list does not fit the schema or names an action the
                LLM may not use.
        """
        data = {'actions': items, 'reply': '-', 'kind': 'command'}
        self._validate(data, json.dumps(items, ensure_ascii=False))
        return self._intent(items)

    def _intent(self, items: List[Dict[str, Any]]) -> List[Action]:
        intent = []
        for item in items:
            spec = self.registry.get(item['name'])
            intent.append(Action(spec.name, spec.api_id, dict(item.get('parameter') or {})))
        return intent

    def _validate(self, data: Any, content: str) -> None:
        items = data.get('actions') if isinstance(data, dict) else None
        for item in items if isinstance(items, list) else []:
            name = item.get('name') if isinstance(item, dict) else None
            if isinstance(name, str) and name not in self.names:
                known = self.registry.get(name) is not None
                why = ('not offered to the LLM (from_llm: false or disabled in the action table)'
                       if known else 'not in the action table')
                raise LLMMalformedOutput('LLM named action %r, %s' % (name, why))
        error = jsonschema.exceptions.best_match(self._validator.iter_errors(data))
        if error is not None:
            where = '/'.join(str(p) for p in error.absolute_path) or '(root)'
            raise LLMMalformedOutput('LLM output does not fit the schema at %s: %s: %r'
                                     % (where, error.message, _clip(content)))
        if not data['reply'].strip():
            raise LLMMalformedOutput('LLM reply is blank: %r' % _clip(content))

    def _schema(self) -> Dict[str, Any]:
        params = []
        for name in self.names:
            for spec in self.registry.get(name).parameters:
                if spec.name not in params:
                    params.append(spec.name)
        action = {'type': 'object',
                  'properties': {'name': {'type': 'string', 'enum': list(self.names)},
                                 'parameter': {'type': 'object',
                                               'properties': {p: {'type': 'number'}
                                                              for p in params},
                                               'additionalProperties': False}},
                  'required': ['name'], 'additionalProperties': False}
        return {'type': 'object',
                'properties': {'actions': {'type': 'array', 'items': action,
                                           'maxItems': self.max_actions},
                               'reply': {'type': 'string', 'minLength': 1},
                               'kind': {'type': 'string', 'enum': list(KINDS)}},
                'required': ['actions', 'reply', 'kind'], 'additionalProperties': False}

    def _action_list(self) -> str:
        lines = ['Actions (name: words):']
        for name in self.names:
            spec = self.registry.get(name)
            lines.append('%s: %s%s' % (name, '/'.join(called(spec)), _parameters(spec)))
        return '\n'.join(lines) + '\n'


def called(spec: ActionSpec) -> List[str]:
    """The words (ja, zh, en, in table order) the prompt lists for ``spec``.

    To keep the system prompt short (prefill cost after every cold start) a word is left
    out when it is the action name itself (``sit`` for Sit) or contains another word of
    the same action (``平衡站立`` next to ``平衡``): the model gets both from what is kept.
    """
    words = []
    for lang in ('ja', 'zh', 'en'):
        for word in spec.names.get(lang, ()):
            if word not in words:
                words.append(word)
    name = spec.name.lower()
    kept = []
    for word in words:
        if word.replace(' ', '').lower() == name:
            continue
        if any(other != word and other in word for other in words):
            continue
        kept.append(word)
    return kept


def _parameters(spec: ActionSpec) -> str:
    if not spec.parameters:
        return ''
    parts = []
    for p in spec.parameters:
        hint = PARAMETER_HINTS.get((spec.name, p.name))
        span = ('±' + _num(p.maximum) if p.minimum == -p.maximum
                else '%s..%s' % (_num(p.minimum), _num(p.maximum)))
        unit = '' if p.name.endswith('_' + p.unit) else ' ' + p.unit  # duration_s: no ' s'
        parts.append('%s %s%s%s' % (p.name, span, unit, ' ' + hint if hint else ''))
    return ' (%s)' % ', '.join(parts)


def _num(value: float) -> str:
    return '%g' % value


def _clip(text: Any, limit: int = 200) -> str:
    text = str(text)
    return text if len(text) <= limit else text[:limit] + '...'
