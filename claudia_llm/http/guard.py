"""ASGI middleware in front of every route: bearer token, then request body size.

A network endpoint that can move a robot is never open by default: http_bridge binds
loopback unless ``http.token`` is set (``check_bind``), and with a token every request
needs ``Authorization: Bearer <token>`` (or ``?access_token=<token>``, for the dashboard's
``EventSource``, which cannot set headers; RFC 6750 section 2.3). A body whose
``Content-Length`` is above the bound gets 413 before anything parses it.
"""
import hmac
import ipaddress
import json
from typing import Tuple
from urllib.parse import parse_qs

from claudia_llm.core.errors import ConfigError


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == 'localhost':
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to any interface
        return False


def check_bind(host: str, token: str) -> None:
    """Refuse to serve beyond loopback without a token.

    Raises:
        ConfigError: ``host`` is not loopback and ``token`` is empty.
    """
    if not is_loopback(host) and not token:
        raise ConfigError('http.host %r is not loopback: set http.token (every request must '
                          'then carry it as a bearer token)' % host)


class Guard:
    """Pure ASGI middleware (no buffering, so Server-Sent Events stream through).

    Args:
        app: the ASGI app behind it.
        token: bearer token; empty = no check.
        max_body_bytes: largest ``Content-Length`` accepted, bytes.
    """

    def __init__(self, app, token: str, max_body_bytes: int):
        self.app = app
        self.token = token.encode('utf-8')
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope, receive, send):
        """Answer 401 or 413 here, or pass the request on to ``app``."""
        if scope['type'] != 'http':
            return await self.app(scope, receive, send)
        headers = dict(scope.get('headers') or ())
        if self.token and not self._authorised(scope, headers):
            return await _reply(send, 401, 'missing or wrong bearer token',
                                [(b'www-authenticate', b'Bearer')])
        length = headers.get(b'content-length', b'0')
        if length.isdigit() and int(length) > self.max_body_bytes:
            return await _reply(send, 413, 'request body is %s bytes, limit %d'
                                % (length.decode(), self.max_body_bytes))
        return await self.app(scope, receive, send)

    def _authorised(self, scope, headers) -> bool:
        scheme, _, given = headers.get(b'authorization', b'').partition(b' ')
        if scheme.lower() != b'bearer':
            query = parse_qs(scope.get('query_string', b'').decode('latin-1'))
            given = query.get('access_token', [''])[0].encode('utf-8')
        return hmac.compare_digest(given.strip(), self.token)


async def _reply(send, status: int, message: str, extra: Tuple = ()) -> None:
    body = json.dumps({'detail': message}).encode('utf-8')
    await send({'type': 'http.response.start', 'status': status,
                'headers': [(b'content-type', b'application/json'),
                            (b'content-length', str(len(body)).encode())] + list(extra)})
    await send({'type': 'http.response.body', 'body': body})
