"""The command lexicon: canonical phrasings we wrote, per action and language.

Loaded from ``config/lexicon.yaml`` and used to seed the exact cache at start, so common
commands work from the first second without the LLM. File shape::

    version: 1
    actions:                     # SportClient names from go2_actions.yaml
      Sit:
        reply: {ja: ..., zh: ..., en: ...}
        wishes: true             # optional: 休みたい / 想休息 / "I want to rest" count too
        ja: [座って, お座り, ...]
        zh: [...]
        en: [...]
    chat:                        # no action, a stable spoken answer (optional)
      thanks:
        reply: {...}
        ja: [ありがとう, ...]

Entries of high-risk actions (``risk: high``) are keyed by ``strict_key`` only, never by the
folded ``normalize`` key (see ``core.commands``).
"""
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, FrozenSet, Iterator, List, Optional, Tuple

import yaml

from claudia_llm.core.errors import ConfigError
from claudia_llm.core.paths import config_dir
from claudia_llm.core.record import Action, Answer
from claudia_llm.core.safety.actions import ActionRegistry

from .normalize import normalize, strict_key
from .variants import Variants

LANGUAGES = ('ja', 'zh', 'en')
# Keys of the speaker's wish to do what a phrase asks (休みたい, 想休息, I want to rest), as
# templates over the phrase's folded key: ja adds the lemma reading of たい after the verb's,
# zh puts 想/我想 before it, en the folded "i want to" / "i wanna" / "i'd like to".
WISH_KEYS = {'ja': ('{}タイ',), 'zh': ('想{}', '我想{}'),
             'en': ('iwantto{}', 'iwanna{}', 'idliketo{}')}
Group = Tuple[str, ...]
_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class LexiconEntry:
    """One canonical phrase.

    What it asks for (``actions``, empty for chat), its language and the reply spoken in that
    language.
    """

    phrase: str
    actions: Tuple[str, ...]
    lang: str
    reply: str
    wish: str = ''
    """'' for the phrase itself; else the template of its wish form's key (``WISH_KEYS``)."""


class Lexicon:
    """Canonical phrasings checked against the action registry."""

    def __init__(self, entries: List[Tuple[LexiconEntry, Group]],
                 replies: Dict[Group, Dict[str, str]], registry: ActionRegistry):
        """Build from ``(entry, group)`` pairs.

        ``replies[group][lang]`` is the reply text. A group is ``(action name,)`` or
        ``('chat', topic)``.

        Raises:
            ConfigError: see ``load``.
        """
        self._entries = [entry for entry, _ in entries]
        self._groups = dict(entries)
        self._replies = replies
        self._registry = registry
        self._high_risk = frozenset(s.name for s in registry if s.risk == 'high')
        self._spellings: Optional[Variants] = None
        self._check_keys()

    @classmethod
    def load(cls, path: Optional[Path], registry: ActionRegistry) -> 'Lexicon':
        """Read the lexicon YAML; ``path`` None means the packaged ``config/lexicon.yaml``.

        Entries of actions the registry marks ``enabled: false`` are skipped (logged).

        Raises:
            ConfigError: an unknown action name, a language other than ja/zh/en, a missing
                reply, a phrase whose key is empty, or two phrases with the same key asking
                for different things.
            FileNotFoundError: the file does not exist.
        """
        path = Path(path) if path else config_dir() / 'lexicon.yaml'
        with open(path, encoding='utf-8') as stream:
            data = yaml.safe_load(stream) or {}
        entries: List[Tuple[LexiconEntry, Group]] = []
        replies: Dict[Group, Dict[str, str]] = {}
        for name, block in (data.get('actions') or {}).items():
            spec = registry.get(name)
            if spec is None:
                raise ConfigError('lexicon: unknown action %r (not in the action table)' % name)
            if not spec.enabled:
                _LOG.warning('lexicon: action %s is disabled in the action table; skipped', name)
                continue
            replies[(name,)] = _read_block(name, block, (name,), entries)
        for topic, block in (data.get('chat') or {}).items():
            replies[('chat', topic)] = _read_block(topic, block, (), entries, ('chat', topic))
        return cls(entries, replies, registry)

    def entries(self) -> List[LexiconEntry]:
        """All entries in file order."""
        return list(self._entries)

    def spellings(self) -> Variants:
        """Other texts to try for an utterance (``core.understanding.variants``).

        Kana spellings of the Japanese phrases' words, loanwords as their English source
        words, a trick number after a known command (built once, ~5 ms).
        """
        if self._spellings is None:
            self._spellings = Variants(((e.phrase, e.actions, e.lang) for e in self._entries
                                        if not e.wish), normalize)
        return self._spellings

    def high_risk(self) -> FrozenSet[str]:
        """Names of the registry's high-risk actions (strict keys only)."""
        return self._high_risk

    def key(self, entry: LexiconEntry) -> str:
        """Exact-cache key of ``entry``.

        ``strict_key`` for high-risk actions, else ``normalize``; a wish entry's key is its
        template (``WISH_KEYS``) over the folded key.
        """
        if any(name in self._high_risk for name in entry.actions):
            return strict_key(entry.phrase)
        if entry.wish:
            return entry.wish.format(normalize(entry.phrase))
        return normalize(entry.phrase)

    def answers(self, lang_hint: Optional[str] = None
                ) -> Iterator[Tuple[str, Answer, LexiconEntry]]:
        """Yield ``(key, answer, entry)`` once per distinct key, to seed the exact cache.

        ``lang_hint`` ('ja', 'zh', 'en') speaks every reply in that language where the
        lexicon has one; None speaks each entry's reply in the entry's own language.
        """
        seen = set()
        for entry in self._entries:
            key = self.key(entry)
            if key in seen:
                continue
            seen.add(key)
            reply = entry.reply
            if lang_hint is not None:
                reply = self._reply_for(entry, lang_hint) or reply
            intent = [self._action(name) for name in entry.actions]
            yield key, Answer(reply, intent=intent, kind='command' if intent else 'chat'), entry

    def _reply_for(self, entry: LexiconEntry, lang: str) -> Optional[str]:
        return self._replies.get(self._groups[entry], {}).get(lang)

    def _action(self, name: str) -> Action:
        spec = self._registry.get(name)
        return Action(spec.name, spec.api_id, {p.name: p.default for p in spec.parameters})

    def _check_keys(self) -> None:
        keys: Dict[str, LexiconEntry] = {}
        for entry in self._entries:
            key = self.key(entry)
            if not key.lstrip('='):
                raise ConfigError('lexicon: phrase %r has an empty key' % entry.phrase)
            other = keys.setdefault(key, entry)
            if self._groups[other] != self._groups[entry]:
                raise ConfigError('lexicon: %r (%s) and %r (%s) share the key %r'
                                  % (other.phrase, '+'.join(self._groups[other]),
                                     entry.phrase, '+'.join(self._groups[entry]), key))


def _read_block(name: str, block: Any, actions: Tuple[str, ...],
                entries: List[Tuple[LexiconEntry, Group]], group: Optional[Group] = None
                ) -> Dict[str, str]:
    if not isinstance(block, dict) or not isinstance(block.get('reply'), dict):
        raise ConfigError('lexicon: %s needs a mapping with reply: {lang: text}' % name)
    replies = {str(k): str(v) for k, v in block['reply'].items()}
    wishes = block.get('wishes', False)
    if not isinstance(wishes, bool):
        raise ConfigError('lexicon: %s.wishes must be true or false' % name)
    for lang, phrases in block.items():
        if lang in ('reply', 'wishes'):
            continue
        if lang not in LANGUAGES:
            raise ConfigError('lexicon: %s has language %r, expected one of %s'
                              % (name, lang, LANGUAGES))
        if lang not in replies:
            raise ConfigError('lexicon: %s has %s phrases but no %s reply' % (name, lang, lang))
        if not isinstance(phrases, list):
            raise ConfigError('lexicon: %s.%s must be a list of phrases' % (name, lang))
        entries.extend((LexiconEntry(str(p), actions, lang, replies[lang]), group or actions)
                       for p in phrases)
        if wishes and actions:
            entries.extend((LexiconEntry(str(p), actions, lang, replies[lang], wish),
                            group or actions) for p in phrases for wish in WISH_KEYS[lang])
    return replies
