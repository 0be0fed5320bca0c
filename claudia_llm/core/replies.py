"""Short fixed replies for answers no tier produced, in the speaker's language."""
import re

_KANA = re.compile('[\u3040-\u30ff\uff66-\uff9f]')
_HAN = re.compile('[\u4e00-\u9fff]')

FALLBACK = {
    'llm_unavailable': {'ja': 'ごめんなさい、今は考えることができません。',
                        'zh': '对不起，我现在无法思考。',
                        'en': "Sorry, I can't think right now."},
    'llm_timeout': {'ja': 'ごめんなさい、時間がかかりすぎました。',
                    'zh': '对不起，我想得太久了。',
                    'en': 'Sorry, that took me too long.'},
    'busy': {'ja': 'ちょっと待ってね、今いそがしいです。',
             'zh': '请稍等，我现在很忙。',
             'en': "I'm busy right now, please wait a moment."},
    'expired': {'ja': 'ごめんなさい、間に合いませんでした。',
                'zh': '对不起，来不及了。',
                'en': 'Sorry, I was too late to answer that.'},
    'invalid_input': {'ja': 'ごめんなさい、聞き取れませんでした。',
                      'zh': '对不起，我没听清楚。',
                      'en': "Sorry, I didn't catch that."},
    'llm_error': {'ja': 'ごめんなさい、うまく考えられませんでした。',
                  'zh': '对不起，我没能想好。',
                  'en': "Sorry, I couldn't work that out."},
    'shutting_down': {'ja': 'ごめんなさい、今止まるところです。あとでもう一度言ってください。',
                      'zh': '对不起，我正在关闭。请稍后再说一遍。',
                      'en': "Sorry, I'm shutting down. Please say that again in a moment."},
    'stale': {'ja': 'ずいぶん前に言われたことなので、今は動きません。もう一度言ってください。',
              'zh': '这是很久以前说的，所以我现在不动。请再说一遍。',
              'en': "That was said a while ago, so I won't move now. Please ask again."},
    'refused': {'ja': 'ごめんなさい、安全のためそれはできません。',
                'zh': '对不起，为了安全我不能这样做。',
                'en': "Sorry, I can't do that safely."},
    'already': {'ja': 'もうそうしていますよ。', 'zh': '我已经是这样了。',
                'en': "I'm already doing that."},
    'just_done': {'ja': '今やったところです。', 'zh': '我刚做过了。', 'en': 'I just did that.'},
    'stop': {'ja': '止まります。', 'zh': '停下了。', 'en': 'Stopping.'},
    'default': {'ja': 'ごめんなさい、よくわかりませんでした。',
                'zh': '对不起，我没明白。',
                'en': "Sorry, I didn't understand."},
}


# What the robot says when it does a motion phrasing (core.understanding.motion).
MOTION = {
    ('walk', 'forward'): {'ja': '前に進みます。', 'zh': '好的，往前走。',
                          'en': 'Walking forward.'},
    ('walk', 'back'): {'ja': '後ろに下がります。', 'zh': '好的，往后退。', 'en': 'Backing up.'},
    ('side', 'left'): {'ja': '左に動きます。', 'zh': '好的，往左移。', 'en': 'Stepping left.'},
    ('side', 'right'): {'ja': '右に動きます。', 'zh': '好的，往右移。', 'en': 'Stepping right.'},
    ('turn', 'left'): {'ja': '左に回ります。', 'zh': '好的，向左转。', 'en': 'Turning left.'},
    ('turn', 'right'): {'ja': '右に回ります。', 'zh': '好的，向右转。', 'en': 'Turning right.'},
}


def motion_reply(kind: str, direction: str, text: str = '') -> str:
    """The reply to a motion phrasing: ``kind`` walk/side/turn, ``direction`` as in guards.

    Raises:
        KeyError: a (kind, direction) pair that is not a motion (turn forward).
    """
    return MOTION[(kind, direction)][language_of(text)]


def language_of(text: str) -> str:
    """Guess 'ja' (any kana), 'zh' (Han without kana) or 'en' (the rest)."""
    if _KANA.search(text):
        return 'ja'
    if _HAN.search(text):
        return 'zh'
    return 'en'


def fallback_reply(code: str, text: str = '') -> str:
    """Return the fixed reply for error ``code`` in the language of ``text``.

    Codes without their own reply get the 'default' one; ``llm_http_error`` and
    ``llm_malformed_output`` share 'llm_error'. ``cancelled`` (an emergency stop overtook
    the request) gets '': the robot has just said it is stopping.
    """
    if code == 'cancelled':
        return ''
    if code in ('llm_http_error', 'llm_malformed_output', 'llm_error'):
        code = 'llm_error'
    replies = FALLBACK.get(code, FALLBACK['default'])
    if code.startswith('invalid') or code in ('empty', 'too_long', 'invalid_utf8'):
        replies = FALLBACK['invalid_input']
    return replies[language_of(text)]
