"""The packaged command lexicon and the checks its loader makes."""
import pytest
import yaml

from claudia_llm.core.errors import ConfigError
from claudia_llm.core.paths import config_dir
from claudia_llm.core.safety.actions import ActionRegistry
from claudia_llm.core.understanding.lexicon import LANGUAGES, Lexicon
from claudia_llm.core.understanding.normalize import STRICT_PREFIX, normalize, strict_key


@pytest.fixture(scope='module')
def registry():
    return ActionRegistry.load()


@pytest.fixture(scope='module')
def lexicon(registry):
    return Lexicon.load(None, registry)


def _write(tmp_path, data):
    path = tmp_path / 'lexicon.yaml'
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding='utf-8')
    return path


def test_every_lexicon_action_exists_and_is_enabled(registry):
    with open(config_dir() / 'lexicon.yaml', encoding='utf-8') as stream:
        data = yaml.safe_load(stream)
    for name in data['actions']:
        spec = registry.get(name)
        assert spec is not None, name
        assert spec.enabled, name


def test_every_action_has_phrases_and_a_reply_in_each_language(lexicon):
    by_action = {}
    for entry in lexicon.entries():
        by_action.setdefault(entry.actions, set()).add(entry.lang)
        assert entry.reply.strip()
    for actions, langs in by_action.items():
        assert langs == set(LANGUAGES), actions


def test_answers_match_the_registry(lexicon, registry):
    seen = set()
    for key, answer, entry in lexicon.answers():
        assert key not in seen
        seen.add(key)
        assert [a.name for a in answer.intent] == list(entry.actions)
        for action in answer.intent:
            assert action.api_id == registry.get(action.name).api_id
        assert answer.kind == ('command' if entry.actions else 'chat')
        assert answer.reply == entry.reply


def test_common_commands_are_seeded_in_every_language(lexicon):
    keys = {key: [a.name for a in answer.intent] for key, answer, _ in lexicon.answers()}
    for text, action in [('お座り', 'Sit'), ('すわってください', 'Sit'), ('坐下', 'Sit'),
                         ('sit down', 'Sit'), ('立って', 'StandUp'), ('站起来', 'StandUp'),
                         ('stand up', 'StandUp'), ('こんにちは', 'Hello'), ('你好', 'Hello'),
                         ('hello', 'Hello'), ('お辞儀', 'Scrape'), ('作揖', 'Scrape'),
                         ('bow', 'Scrape'), ('可愛いね', 'Heart'), ('比心', 'Heart'),
                         ('heart', 'Heart'), ('踊って', 'Dance1'), ('跳个舞', 'Dance1'),
                         ('dance', 'Dance1'), ('ダンス2', 'Dance2'), ('伏せ', 'StandDown')]:
        assert keys.get(normalize(text)) == [action], text


def test_high_risk_entries_use_strict_keys_only(lexicon, registry):
    high = {s.name for s in registry if s.risk == 'high'}
    assert lexicon.high_risk() == frozenset(high)
    risky_keys = set()
    for key, answer, entry in lexicon.answers():
        if any(a.name in high for a in answer.intent):
            assert key == strict_key(entry.phrase)
            risky_keys.add(key)
        else:
            assert not key.startswith(STRICT_PREFIX)
    assert strict_key('ジャンプ') in risky_keys
    assert strict_key('じゃんぷ') not in risky_keys
    assert normalize('ジャンプ') not in risky_keys


def test_lang_hint_speaks_one_language(lexicon):
    replies = {entry.phrase: answer.reply for _, answer, entry in lexicon.answers('en')}
    assert replies['座って'] == replies['sit']
    assert replies['ありがとう'] == replies['thank you']


def test_chat_entries_have_no_action(lexicon):
    chats = [(answer, entry) for _, answer, entry in lexicon.answers() if not entry.actions]
    assert chats
    assert all(answer.kind == 'chat' and not answer.intent for answer, _ in chats)


def test_unknown_action_is_a_config_error(tmp_path, registry):
    path = _write(tmp_path, {'actions': {'Backflip': {'reply': {'en': 'x'}, 'en': ['x']}}})
    with pytest.raises(ConfigError, match='Backflip'):
        Lexicon.load(path, registry)


def test_unknown_language_is_a_config_error(tmp_path, registry):
    path = _write(tmp_path, {'actions': {'Sit': {'reply': {'fr': 'x'}, 'fr': ['assis']}}})
    with pytest.raises(ConfigError, match='fr'):
        Lexicon.load(path, registry)


def test_missing_reply_is_a_config_error(tmp_path, registry):
    path = _write(tmp_path, {'actions': {'Sit': {'reply': {'ja': 'はい'}, 'en': ['sit']}}})
    with pytest.raises(ConfigError, match='no en reply'):
        Lexicon.load(path, registry)


def test_two_actions_on_one_key_is_a_config_error(tmp_path, registry):
    path = _write(tmp_path, {'actions': {
        'Sit': {'reply': {'ja': 'はい'}, 'ja': ['座って']},
        'StandUp': {'reply': {'ja': 'はい'}, 'ja': ['すわってください']}}})
    with pytest.raises(ConfigError, match='share the key'):
        Lexicon.load(path, registry)


def test_phrase_with_empty_key_is_a_config_error(tmp_path, registry):
    path = _write(tmp_path, {'actions': {'Sit': {'reply': {'ja': 'はい'}, 'ja': ['！？']}}})
    with pytest.raises(ConfigError, match='empty key'):
        Lexicon.load(path, registry)


def test_disabled_action_is_skipped(tmp_path, registry):
    assert not registry.get('Wallow').enabled
    path = _write(tmp_path, {'actions': {
        'Wallow': {'reply': {'ja': 'ごろごろ'}, 'ja': ['ごろごろ']},
        'Sit': {'reply': {'ja': 'はい'}, 'ja': ['座って']}}})
    lexicon = Lexicon.load(path, registry)
    assert [e.actions for e in lexicon.entries()] == [('Sit',)]


def test_missing_file_raises(tmp_path, registry):
    with pytest.raises(FileNotFoundError):
        Lexicon.load(tmp_path / 'absent.yaml', registry)
