r"""Log lines that stay one line: control characters in logged text are escaped.

An utterance holding ``\r\n`` (or any C0/C1 control, DEL, a line or paragraph separator)
would otherwise split its log line in two, or rewrite the terminal.
"""
import logging
import re

# C0 and C1 controls, DEL, U+2028/U+2029 (line and paragraph separators).
_CONTROL = re.compile('[\x00-\x1f\x7f-\x9f\u2028\u2029]')
_NAMED = {'\n': '\\n', '\r': '\\r', '\t': '\\t'}


def escape_controls(text: str) -> str:
    r"""``text`` with each control character written as an escape.

    >>> escape_controls('座って\r\nstand')
    '座って\\r\\nstand'
    """
    return _CONTROL.sub(lambda m: _NAMED.get(m.group(), '\\x%02x' % ord(m.group())
                                             if ord(m.group()) < 0x100
                                             else '\\u%04x' % ord(m.group())), text)


class EscapingFormatter(logging.Formatter):
    """A ``logging.Formatter`` that escapes control characters in the message.

    Only the message is escaped; a traceback appended for ``log.exception`` keeps its lines.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging API
        """Format with ``record.message`` escaped (``escape_controls``)."""
        record.message = escape_controls(record.message)
        return super().formatMessage(record)
