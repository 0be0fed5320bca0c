"""Admission policy of the caches: which LLM answers may be served again later.

Only stable answers are cached: a robot command (``kind == 'command'`` with at least one
action) or a conversational answer that does not depend on when it is asked
(``kind == 'chat'``). Answers marked ``'volatile'``, failed requests and every answer to a
time-dependent question (time, date, weather, battery, news...) are never cached, whatever
kind the LLM gave them: a cached "it is 3 o'clock" is wrong a minute later.
"""
import re
import unicodedata
from typing import Optional

from claudia_llm.core.record import Answer

# Words that make a question time-dependent, matched after NFKC + casefold. English words
# match as whole words (so "sometimes" is not "time"); CJK words match anywhere.
TIME_WORDS_EN = (
    'time', 'times', 'clock', "o'clock", 'date', 'day', 'today', 'tonight', 'tomorrow',
    'yesterday', 'weekday', 'weather', 'forecast', 'temperature', 'rain', 'raining', 'snow',
    'battery', 'charge', 'charged', 'charging', 'power level', 'news', 'latest', 'currently',
)
TIME_WORDS_JA = (
    '何時', '時間', '時刻', '今日', 'きょう', '明日', 'あした', '昨日', 'きのう', '今夜', '今晩',
    '日付', '何日', '曜日', '天気', 'てんき', '気温', '予報', '雨', '雪', 'バッテリー', '電池',
    '充電', '残量', 'ニュース', 'いまなんじ', 'なんじ',
)
TIME_WORDS_ZH = (
    '几点', '幾點', '时间', '今天', '明天', '昨天', '今晚', '日期', '几号', '幾號', '星期几',
    '星期幾', '天气', '天氣', '气温', '氣溫', '下雨', '下雪', '电量', '電量', '电池', '充电',
    '充電', '新闻', '新聞',
)

_EN_RE = re.compile(r"(?<![a-z'])(?:%s)(?![a-z'])"
                    % '|'.join(re.escape(w) for w in sorted(TIME_WORDS_EN, key=len, reverse=True)))
_CJK_WORDS = tuple(unicodedata.normalize('NFKC', w) for w in TIME_WORDS_JA + TIME_WORDS_ZH)

CACHEABLE_KINDS = ('command', 'chat')


def is_time_dependent(text: str) -> bool:
    """True when ``text`` asks about something that changes with time.

    Matching is on NFKC-normalised, case-folded text; see ``TIME_WORDS_*`` for the words.

    >>> is_time_dependent('What time is it?'), is_time_dependent('今日の天気は？')
    (True, True)
    >>> is_time_dependent('现在几点'), is_time_dependent('sit down sometimes')
    (True, False)
    """
    folded = unicodedata.normalize('NFKC', text).casefold()
    if _EN_RE.search(folded):
        return True
    return any(word in folded for word in _CJK_WORDS)


def admit(answer: Optional[Answer], text: str, error: Optional[object] = None) -> bool:
    """Decide whether the answer to ``text`` may be stored in the exact and semantic caches.

    Args:
        answer: the validated answer of the LLM tier (None when there is none).
        text: the utterance as received.
        error: the request's error, if any (an error record or exception): never cached.

    Returns:
        True only for a ``'command'`` answer with a non-empty intent, or a ``'chat'`` answer
        with a non-empty reply, to a question that is not time-dependent.

    >>> from .record import Action
    >>> admit(Answer('はい', [Action('Sit', 1009)], 'command'), '座って')
    True
    >>> admit(Answer('3時です', [], 'chat'), '今何時？')
    False
    """
    if answer is None or error is not None or answer.kind not in CACHEABLE_KINDS:
        return False
    if answer.kind == 'command' and not answer.intent:
        return False
    if answer.kind == 'chat' and not answer.reply.strip():
        return False
    return not is_time_dependent(text)
