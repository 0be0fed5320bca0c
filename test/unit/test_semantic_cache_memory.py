"""SemanticCache on memory only (FailoverStore(None)) with the real default embedder (onnx-e5).

Redis persistence, isolation and cross-process refresh are in
test/integration/test_semantic_cache.py.
"""
import pytest

from claudia_llm.core.cache.embedder import make_embedder
from claudia_llm.core.cache.semantic import SemanticCache, SemanticHit
from claudia_llm.core.cache.store import FailoverStore
from claudia_llm.core.errors import ConfigError
from claudia_llm.core.record import Action, Answer
from claudia_llm.core.safety.actions import ActionRegistry
from claudia_llm.core.understanding.lexicon import Lexicon

pytestmark = pytest.mark.slow


class Clock:
    """Settable wall clock, seconds."""

    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope='module')
def embedder():
    return make_embedder('onnx-e5', '')


@pytest.fixture(scope='module')
def registry():
    return ActionRegistry.load()


def command(registry, *names):
    actions = [Action(n, registry.get(n).api_id) if registry.get(n) else Action(n, 9999)
               for n in names]
    return Answer('はい', actions, 'command')


def make_cache(embedder, registry, **kwargs):
    kwargs.setdefault('threshold', 0.97)
    kwargs.setdefault('ttl_s', 60.0)
    return SemanticCache(FailoverStore(None), embedder, 'v1', registry=registry, **kwargs)


@pytest.mark.parametrize('kwargs, message', [
    ({'threshold': 0.0}, 'threshold must be in \\(0, 1\\], got 0.0'),
    ({'threshold': 1.01}, 'got 1.01'),
    ({'threshold': -0.5}, 'got -0.5'),
    ({'ttl_s': -1.0}, 'ttl_s must be >= 0 .* got -1.0'),
    ({'refresh_interval_s': -2.0}, 'refresh_interval_s must be >= 0, got -2.0'),
    ({'chat_threshold': 1.5}, 'chat 1.5'),
])
def test_constructor_names_bad_values(embedder, registry, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        make_cache(embedder, registry, **kwargs)


@pytest.mark.asyncio
async def test_store_rejects_bad_ttl_and_source(embedder, registry):
    cache = make_cache(embedder, registry)
    with pytest.raises(ValueError, match='got -5'):
        await cache.store('座って', command(registry, 'Sit'), ttl_s=-5)
    with pytest.raises(ValueError, match="'cache'"):
        await cache.store('座って', command(registry, 'Sit'), source='cache')
    assert len(cache.index) == 0


@pytest.mark.asyncio
async def test_hit_is_a_typed_object_and_paraphrases_match(embedder, registry):
    cache = make_cache(embedder, registry)
    assert await cache.check('座って') is None  # empty cache
    key = await cache.store('座って', command(registry, 'Sit'))
    assert key == cache.key_for('座って') and key.startswith('claudia:sem:onnx-e5:')
    hit = await cache.check('えーと、ちょっと座ってくれる？')
    assert isinstance(hit, SemanticHit)
    assert (hit.key, hit.matched_text, hit.source) == (key, '座って', 'llm')
    assert [a.name for a in hit.answer.intent] == ['Sit']
    assert 0.97 <= hit.score <= 1.0001
    assert await cache.check('今日はいい天気ですね') is None


@pytest.mark.asyncio
async def test_answers_without_actions_need_the_chat_threshold(embedder, registry):
    """Template questions that differ in one noun score high (0.954 here): chat answers
    need ``chat_threshold``, answers with actions ``threshold``."""
    cache = make_cache(embedder, registry, threshold=0.9, chat_threshold=0.99)
    await cache.store('あなたの好きな色は何ですか', Answer('青が好き。', [], 'chat'))
    await cache.store('座って', command(registry, 'Sit'))
    assert await cache.check('あなたの好きな花は何ですか') is None  # below 0.99
    assert (await cache.check('あなたの好きな色は何ですか')).answer.reply == '青が好き。'
    assert [a.name for a in (await cache.check('座ってくれる？')).answer.intent] == ['Sit']
    cache.chat_threshold = 0.9
    hit = await cache.check('あなたの好きな花は何ですか')
    assert hit is not None and 0.9 <= hit.score < 0.99
    assert cache.threshold_for(Answer('x', [], 'chat')) == 0.9


@pytest.mark.asyncio
@pytest.mark.parametrize('stored, query', [
    ('座って', '座らないで'), ('sit down', "don't sit down"), ('坐下', '别坐下'),
    ('右に曲がって', '左に曲がって'), ('一歩前へ', '三歩前へ'), ('turn left', 'turn right')])
async def test_differing_guards_never_hit(embedder, registry, stored, query):
    cache = make_cache(embedder, registry, threshold=0.5)  # guards alone must refuse
    await cache.store(stored, command(registry, 'Sit'))
    assert await cache.check(stored) is not None
    assert await cache.check(query) is None


@pytest.mark.asyncio
async def test_high_risk_or_unknown_actions_are_never_served(embedder, registry):
    cache = make_cache(embedder, registry)
    assert registry.get('FrontFlip').risk == 'high'
    await cache.store('バク転して', command(registry, 'FrontFlip'), source='lexicon')
    await cache.store('空を飛んで', command(registry, 'Fly'))
    await cache.store('挨拶してからバク転', command(registry, 'Hello', 'FrontFlip'))
    assert len(cache.index) == 3
    for text in ('バク転して', '空を飛んで', '挨拶してからバク転'):
        assert await cache.check(text) is None


@pytest.mark.asyncio
async def test_time_dependent_questions_never_hit(embedder, registry):
    cache = make_cache(embedder, registry)
    await cache.store('今何時？', Answer('3時です', [], 'chat'))
    assert await cache.check('今何時？') is None


@pytest.mark.asyncio
async def test_ttl_is_absolute_zero_is_no_expiry_and_lexicon_never_expires(embedder, registry):
    clock = Clock()
    cache = make_cache(embedder, registry, ttl_s=10.0, clock=clock)
    await cache.store('座って', command(registry, 'Sit'))               # cache ttl: 10 s
    await cache.store('立って', command(registry, 'StandUp'), ttl_s=0)  # never expires
    await cache.store('伏せて', command(registry, 'StandDown'), ttl_s=3)
    await cache.store('踊って', command(registry, 'Dance1'), ttl_s=3, source='lexicon')
    clock.now += 2.9
    assert await cache.check('伏せて') is not None
    assert await cache.check('座って') is not None  # hits do not extend the TTL
    clock.now += 0.1
    assert await cache.check('伏せて') is None
    clock.now += 7.0  # 10 s after the write
    assert await cache.check('座って') is None
    clock.now += 1e6
    assert await cache.check('立って') is not None
    assert await cache.check('踊って') is not None
    assert sorted(cache.index.keys()) == sorted([cache.key_for('立って'), cache.key_for('踊って')])


@pytest.mark.asyncio
async def test_cache_ttl_none_means_no_expiry(embedder, registry):
    clock = Clock()
    cache = make_cache(embedder, registry, ttl_s=None, clock=clock)
    await cache.store('座って', command(registry, 'Sit'))
    clock.now += 1e7
    assert await cache.check('座って') is not None


@pytest.mark.asyncio
async def test_drop_and_clear(embedder, registry):
    cache = make_cache(embedder, registry)
    sit = await cache.store('座って', command(registry, 'Sit'))
    await cache.store('立って', command(registry, 'StandUp'))
    await cache.drop(sit)
    assert await cache.check('座って') is None
    with pytest.raises(ValueError, match="'claudia:exact:x' is not a key of semantic"):
        await cache.drop('claudia:exact:x')
    assert await cache.check('立って') is not None
    assert await cache.clear() == 1
    assert await cache.check('立って') is None and len(cache.index) == 0


@pytest.mark.asyncio
async def test_seed_lexicon_once_and_drops_stale_lexicon_rows(embedder, registry):
    lexicon = Lexicon.load(None, registry)
    cache = make_cache(embedder, registry)
    stale = await cache.store('古い言い方', command(registry, 'Sit'), source='lexicon')
    llm = await cache.store('お手をして', command(registry, 'Hello'), source='llm')
    written = await cache.seed_lexicon(lexicon)
    assert written == len({cache.key_for(e.phrase) for _, _, e in lexicon.answers()})
    assert stale not in cache.index and llm in cache.index
    assert await cache.seed_lexicon(lexicon) == 0  # nothing new to embed
    phrase = next(e.phrase for _, a, e in lexicon.answers()
                  if [x.name for x in a.intent] == ['Sit'])
    hit = await cache.check(phrase)
    assert hit is not None and hit.source == 'lexicon'
    assert [a.name for a in hit.answer.intent] == ['Sit']


class CountingEmbedder:
    """The real embedder, counting the texts it embeds."""

    def __init__(self, inner):
        self.inner, self.model_id, self.dim, self.texts = inner, inner.model_id, inner.dim, []

    def executor(self):
        return self.inner.executor()

    def embed(self, texts):
        self.texts.extend(texts)
        return self.inner.embed(texts)


@pytest.mark.asyncio
async def test_a_miss_then_store_embeds_the_utterance_once(embedder, registry):
    counting = CountingEmbedder(embedder)
    cache = SemanticCache(FailoverStore(None), counting, 'v1', threshold=0.97, ttl_s=None,
                          registry=registry)
    await cache.store('立って', command(registry, 'StandUp'))
    assert await cache.check('ちょっと伏せてくれる？') is None  # a miss: goes to the LLM
    await cache.store('ちょっと伏せてくれる？', command(registry, 'StandDown'))
    assert await cache.check('ちょっと伏せてくれる？') is not None
    assert counting.texts == ['立っ', '伏せ']  # embedded forms, each once
