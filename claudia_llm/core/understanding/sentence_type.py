"""Sentence type: question, statement or request (ja, zh, en).

A question and a statement must never share a cache entry: after 「疲れた」 ("I'm tired") was
answered with Sit, 「疲れた？」 ("are you tired?") asks something else. The type is part of the
exact-cache key (``core.cache.exact``) and a guard of the semantic cache (``core.guards``).

Rules, in this order (the first that applies wins):

- request: Japanese request forms (て/で at the end, imperative, volitional 〜よう/〜ましょう,
  ください, なさい, てくれる/てもらえる/ていただける with or without か/？, てほしい, お願い,
  and a potential verb asked with ？ or か: 座れる？, ダンスできる？ = "can you sit?");
  Chinese 请/麻烦/帮我 at the start, 吧 at the end (without ？), 好吗/好不好/行吗/可以吗 tails,
  能/可以 ... 吗 and 能不能/可不可以; English please, let's, can/could/would/will you,
  why don't you, i want you to.
- question: a final ？/?; Japanese か/かな/かしら/の/っけ at the end and interrogatives
  (何, どう, どこ, いつ, 誰, なぜ ...); Chinese 吗/呢/么 at the end and interrogatives
  (什么, 为什么, 怎么, 哪, 谁, 几, 多少, 是不是, A不A); English inversion (aux + subject at the
  start: are you, do you, is it ...) and wh-words at the start.
- statement: everything else (a bare Chinese or English imperative such as 坐下 or "sit down"
  is also a statement here: lexicon commands are served for statements and requests alike).
"""
import re
import unicodedata
from typing import List, Sequence

from .japanese import Morph, analyse, is_punctuation

QUESTION = 'question'
STATEMENT = 'statement'
REQUEST = 'request'
TYPES = (QUESTION, STATEMENT, REQUEST)

_KANA = re.compile(r'[\u3041-\u309f\u30a0-\u30ff]')
_HAN = re.compile(r'[\u3400-\u9fff\uf900-\ufaff]')
_QMARKS = ('?', '？')

# Japanese
_JA_REQUEST_AUX = frozenset(('呉れる', '貰う', '頂く', '下さる', '欲しい', '頂戴'))
_JA_QUESTION_PARTICLES = frozenset(('か', 'かな', 'かしら', 'の', 'っけ', 'かい', 'の?'))
_JA_INTERROGATIVES = frozenset(('何', 'なに', 'なん', 'どう', 'どこ', 'いつ', '誰', 'だれ', 'なぜ',
                                '何故', 'どうして', 'どれ', 'どの', 'どちら', 'どっち', 'いくつ',
                                'いくら', 'どんな', '何処', '如何'))
_JA_NEG_POLITE = frozenset(('ます', 'ない', 'ぬ', 'ず', 'ん'))
_JA_TRAILERS = frozenset(('ね', 'よ', 'な', 'ねえ', 'なあ', 'よね', 'わ', 'さ', 'ぞ', 'ぜ'))

# Chinese (simplified and traditional written out: this runs before zhconv)
_ZH_REQUEST_HEAD = re.compile(r'^(?:请|請|麻烦|麻煩|帮我|幫我|给我|給我|来|來|快)')
_ZH_REQUEST_TAIL = re.compile(r'(?:吧|好吗|好嗎|好不好|行吗|行嗎|行不行|可以吗|可以嗎|一下)$')
_ZH_ABILITY_REQUEST = re.compile(r'(?:能不能|可不可以|能否|^你?(?:能|可以)(?!不).+[吗嗎]$)')
_ZH_QUESTION_TAIL = re.compile(r'[吗嗎呢么麼]$')
_ZH_INTERROGATIVE = re.compile(
    r'什么|什麼|甚么|为什么|為什麼|怎么|怎麼|怎样|怎樣|哪|谁|誰|几|幾|多少|是不是|有没有|有沒有|'
    r'会不会|會不會|要不要|对不对|對不對|([\u4e00-\u9fff])不\1')

# English
_EN_AUX = frozenset(('am', 'are', 'is', 'was', 'were', 'do', 'does', 'did', 'have', 'has',
                     'had', 'can', 'could', 'will', 'would', 'shall', 'should', 'may', 'might',
                     'must', "aren't", "isn't", "don't", "doesn't", "didn't", "can't", "won't",
                     "haven't", "hasn't", "wasn't", "weren't", "shouldn't", "couldn't"))
_EN_SUBJECTS = frozenset(('i', 'you', 'u', 'we', 'he', 'she', 'it', 'they', 'this', 'that',
                          'there', 'your', 'my', 'the', 'a', 'robot', 'claudia'))
# Plain 'do' and 'have' invert only with these (do you / have we ...); before a noun or an
# article they are the verb of an imperative (do the dance, have a rest).
_EN_DO_SUBJECTS = frozenset(('i', 'you', 'u', 'we', 'they'))
_EN_WH = frozenset(('what', "what's", 'whats', 'why', 'how', "how's", 'where', "where's",
                    'when', 'who', "who's", 'which', 'whose', 'whom'))
_EN_REQUEST_FRAMES = (('can', 'you'), ('could', 'you'), ('would', 'you'), ('will', 'you'),
                      ('can', 'u'), ('why', "don't", 'you'), ('why', 'dont', 'you'),
                      ('i', 'want', 'you', 'to'), ("i'd", 'like', 'you', 'to'),
                      ('would', 'you', 'mind'), ("let's",), ('lets',), ('let', 'us'),
                      ('go', 'ahead'), ('how', 'about'))
_EN_POLITE = frozenset(('please', 'pls', 'plz', 'kindly'))
_EN_FILLERS = frozenset(('um', 'uh', 'er', 'hey', 'ok', 'okay', 'so', 'well', 'oh', 'hi',
                         'claudia'))


def sentence_type(text: str) -> str:
    """Return 'question', 'statement' or 'request' for one utterance (see the module doc).

    Args:
        text: the utterance as received (any width or script).

    Raises:
        TypeError: ``text`` is not a str.

    >>> sentence_type('疲れた'), sentence_type('疲れた？'), sentence_type('座ってくれる？')
    ('statement', 'question', 'request')
    >>> sentence_type('你累了吗'), sentence_type('坐下吧'), sentence_type('are you tired')
    ('question', 'request', 'question')
    """
    if not isinstance(text, str):
        raise TypeError('utterance must be str, got %s' % type(text).__name__)
    folded = unicodedata.normalize('NFKC', text).casefold().strip()
    core = folded.rstrip(' \t\r\n!！。.、，,~〜…♪')
    marked = core.endswith(_QMARKS)
    core = core.rstrip('?？ ')
    if not core:
        return STATEMENT
    if _KANA.search(core):
        return _japanese(core, marked)
    if _HAN.search(core):
        return _chinese(core, marked)
    return _english(core, marked)


def _words(morphs: Sequence[Morph]) -> List[Morph]:
    return [m for m in morphs if m.surface.strip() and not is_punctuation(m.surface)]


def _japanese(text: str, marked: bool) -> str:
    morphs = _words(analyse(text))
    if not morphs:
        return QUESTION if marked else STATEMENT
    while len(morphs) > 1 and morphs[-1].pos2 == '終助詞' and morphs[-1].surface in _JA_TRAILERS:
        morphs = morphs[:-1]
    if _japanese_request(morphs):
        return REQUEST
    last = morphs[-1]
    asked = marked or (last.pos1 == '助詞' and last.surface == 'か')
    if asked and _potential(morphs[:-1] if last.surface == 'か' else morphs):
        return REQUEST  # 座れる？, ダンスできる？ ask for it, like "can you sit?"
    if marked or (last.pos1 == '助詞' and last.surface in _JA_QUESTION_PARTICLES
                  and last.pos2 in ('終助詞', '準体助詞', '副助詞')):
        return QUESTION
    if any(m.surface in _JA_INTERROGATIVES or m.lemma in _JA_INTERROGATIVES for m in morphs):
        return QUESTION
    return STATEMENT


def _japanese_request(morphs: Sequence[Morph]) -> bool:
    """True for a request ending: te-form, imperative, volitional, or a request auxiliary."""
    words = list(morphs)
    if len(words) > 1 and words[-1].surface == 'か':
        words = words[:-1]  # 座ってくれますか, 座ってもらえませんか
    negated = False
    while len(words) > 1 and words[-1].pos1 == '助動詞' and words[-1].lemma in _JA_NEG_POLITE:
        if words[-1].cform.startswith('意志推量形'):
            return True  # 座りましょう
        negated = negated or words[-1].lemma != 'ます'
        words = words[:-1]
    last = words[-1]
    prev = words[-2] if len(words) > 1 else None
    if negated:  # only くれない？ / もらえませんか are requests; 座ってない is not
        return last.lemma in _JA_REQUEST_AUX and prev is not None and prev.lemma in ('て', 'で')
    if last.pos1 == '助詞' and last.lemma == 'て':
        return True
    if last.lemma in _JA_REQUEST_AUX and prev is not None and prev.lemma in ('て', 'で'):
        return True
    if last.lemma in ('下さる', '為さる', '頂戴', '願う') or \
            last.surface in ('お願い', 'おねがい'):
        return True
    if last.lemma == '為る' and prev is not None and prev.lemma == '願う':
        return True
    return last.pos1 == '動詞' and last.cform.startswith(('命令形', '意志推量形'))


def _potential(morphs: Sequence[Morph]) -> bool:
    """True when ``morphs`` end in a potential verb: 座れる, 踊れる, できる, 寝られる."""
    if not morphs:
        return False
    last = morphs[-1]
    if last.pos1 == '助動詞' and last.lemma in ('られる', 'れる'):
        return True
    if last.pos1 != '動詞' or not last.cform.startswith('終止形'):
        return False
    changed_reading = bool(last.lform) and last.kana != last.lform  # 座れる: スワレル, スワル
    return last.lemma == '出来る' or (changed_reading and last.kana.endswith('ル'))


def _chinese(text: str, marked: bool) -> str:
    text = text.replace(' ', '')
    if _ZH_REQUEST_HEAD.search(text) or _ZH_ABILITY_REQUEST.search(text):
        return REQUEST
    if _ZH_REQUEST_TAIL.search(text) and not (marked and text.endswith('吧')):
        return REQUEST
    if marked or _ZH_QUESTION_TAIL.search(text) or _ZH_INTERROGATIVE.search(text):
        return QUESTION
    return STATEMENT


def _english(text: str, marked: bool) -> str:
    words = re.findall(r"[a-z]+(?:'[a-z]+)?", text.replace('\u2019', "'"))
    while len(words) > 1 and words[0] in _EN_FILLERS:
        words = words[1:]
    if not words:
        return QUESTION if marked else STATEMENT
    if any(w in _EN_POLITE for w in words):
        return REQUEST
    head = tuple(words[:4])
    if any(head[:len(frame)] == frame for frame in _EN_REQUEST_FRAMES):
        return REQUEST
    if marked or words[0] in _EN_WH:
        return QUESTION
    if words[0] in _EN_AUX and len(words) > 1 and words[1] in _EN_SUBJECTS:
        if words[0] in ('do', 'have') and words[1] not in _EN_DO_SUBJECTS:
            return STATEMENT  # an imperative: do a stretch, do it, have a rest
        return QUESTION
    return STATEMENT
