"""Log lines stay one line: control characters in logged text are escaped."""
import doctest
import logging

from claudia_llm.core import log_text
from claudia_llm.core.log_text import EscapingFormatter, escape_controls


def test_docstring_examples():
    assert doctest.testmod(log_text).failed == 0


def test_newlines_tabs_and_other_controls_are_escaped():
    assert escape_controls('a\r\nb\tc\x1bd\u2028e') == 'a\\r\\nb\\tc\\x1bd\\u2028e'
    assert escape_controls('座って') == '座って'


def test_formatter_escapes_the_message_but_keeps_the_traceback_lines():
    formatter = EscapingFormatter('%(name)s: %(message)s')
    try:
        raise ValueError('boom')
    except ValueError:
        import sys
        exc_info = sys.exc_info()
    record = logging.LogRecord('claudia_llm.x', logging.ERROR, __file__, 1,
                               'utterance %s', ('座って\r\nstand',), exc_info)
    text = formatter.format(record)
    first, rest = text.split('\n', 1)
    assert first == 'claudia_llm.x: utterance 座って\\r\\nstand'
    assert 'Traceback' in rest and 'ValueError: boom' in rest
