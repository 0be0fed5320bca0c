"""Reading-aware spelling variants: スワッテ, すわって and 座って are one command.

The analyser (``core.japanese``) reads kanji well, but a command spelled in kana only is
often cut wrongly: katakana verbs become unknown nouns (スワッテ, フセテ), some hiragana ones
become other words (おどる = お + 取る, だんす = 箪笥). ``Spellings`` learns, from the
lexicon's own phrases, which kana spell which written forms (the surface reading of every
kanji word and its verb stem: すわっ -> 座っ, おど -> 踊, あいさつ -> 挨拶, and of every whole
phrase with kanji: おて -> お手; the hiragana of every
katakana word: だんす -> ダンス) and ``variants`` rewrites an utterance with them, so the
exact tier can try the lexicon's spelling after the utterance's own. The rewrite only ever
produces candidate texts: a candidate counts only when its whole normalised key is a
lexicon key, so negation and every other word still have to match (おどらないで becomes
踊らないで, whose key is not 踊って's).

Readings of one kana are not learnt (て, ね, ふ would match inside every word).
"""
import re
import unicodedata
from typing import Dict, Iterable, List, Tuple

from .japanese import analyse

MAX_VARIANTS = 8
MAX_CHARS = 40
"""Longer utterances are not rewritten (commands are short; keeps the search bounded)."""
MIN_READING = 2
_KANJI = re.compile(r'[\u3400-\u9fff\uf900-\ufaff々]')
_KATAKANA_WORD = re.compile(r'^[\u30a1-\u30fcー]+$')
_HIRAGANA = re.compile(r'[\u3041-\u3096ー]')


def hiragana(text: str) -> str:
    """Katakana to hiragana; everything else unchanged.

    >>> hiragana('スワッテ ok')
    'すわって ok'
    """
    return ''.join(chr(ord(c) - 0x60) if '\u30a1' <= c <= '\u30f6' else c for c in text)


def _common_tail(a: str, b: str) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[-1 - n] == b[-1 - n]:
        n += 1
    return n


def _pairs(surface: str, reading: str) -> List[Tuple[str, str]]:
    """(kana, written) pairs of one word: the whole word and its stem without okurigana."""
    kana = hiragana(reading)
    if not kana or kana == surface:
        return []
    out = [(kana, surface)]
    tail = _common_tail(hiragana(surface), kana)
    if 0 < tail < len(kana):
        out.append((kana[:-tail], surface[:-tail]))
    return out


class Spellings:
    """Kana spellings of the written words of a vocabulary (see the module doc).

    Args:
        phrases: Japanese phrases as written in the lexicon.
    """

    def __init__(self, phrases: Iterable[str]):
        table: Dict[str, str] = {}
        for phrase in phrases:
            morphs = analyse(unicodedata.normalize('NFKC', phrase))
            if _KANJI.search(phrase):  # the whole phrase too: おて -> お手
                whole = hiragana(''.join(m.kana or m.surface for m in morphs))
                if len(whole) >= MIN_READING and whole != phrase:
                    table.setdefault(whole, phrase)
            for m in morphs:
                pairs = []
                if _KANJI.search(m.surface):
                    pairs += _pairs(m.surface, m.kana)
                    if m.pos1 == '動詞' and _KANJI.search(m.lemma):
                        pairs += _pairs(m.lemma, m.lform)
                elif _KATAKANA_WORD.match(m.surface) and len(m.surface) >= MIN_READING:
                    pairs.append((hiragana(m.surface), m.surface))
                for kana, written in pairs:
                    if len(kana) >= MIN_READING and _HIRAGANA.search(kana):
                        table.setdefault(kana, written)
        self._table = table
        self._longest = max((len(k) for k in table), default=0)

    def __len__(self) -> int:
        """Number of kana spellings known."""
        return len(self._table)

    def variants(self, text: str) -> List[str]:
        """Other spellings of ``text`` to try, best first, at most ``MAX_VARIANTS``.

        The hiragana form of any katakana, then rewrites of its kana with the vocabulary's
        written words (longest reading first at each position). ``text`` itself is never
        returned.

        >>> s = Spellings(['座って', '踊って', 'ダンス'])
        >>> s.variants('スワッテ')[:2], s.variants('おどる')[0], s.variants('だんす')[0]
        (['すわって', '座って'], '踊る', 'ダンス')
        """
        wide = unicodedata.normalize('NFKC', text)
        base = hiragana(wide)
        out: List[str] = []
        if base != wide:
            out.append(base)
        if self._table and len(base) <= MAX_CHARS and _HIRAGANA.search(base):
            self._rewrite(base, 0, '', False, out)
        seen, ordered = {wide}, []
        for candidate in out:
            if candidate not in seen:
                seen.add(candidate)
                ordered.append(candidate)
        return ordered[:MAX_VARIANTS]

    def _rewrite(self, text: str, pos: int, done: str, changed: bool, out: List[str]) -> None:
        """Depth-first: at each position, replace the longest known reading first."""
        if len(out) >= MAX_VARIANTS + 1:
            return
        if pos >= len(text):
            if changed:
                out.append(done)
            return
        for size in range(min(self._longest, len(text) - pos), MIN_READING - 1, -1):
            written = self._table.get(text[pos:pos + size])
            if written is not None:
                self._rewrite(text, pos + size, done + written, True, out)
                break
        self._rewrite(text, pos + 1, done + text[pos], changed, out)
