"""The FastAPI app of http_bridge: utterances in, records, events, health and metrics out.

Routes (DESIGN.md, issue 13):

- ``POST /v1/utterances`` ``{"text", "id"?, "priority"?}`` -> the response record; 413 above
  ``input.max_chars``/``input.max_bytes``, 422 for any other bad input (with a message),
  409 for an id already awaited, 503 when no llm_node subscribes, 504 (with the request
  id) when no record came within ``http.request_timeout_s``.
- ``GET /v1/events``: Server-Sent Events ``record``, ``action``, ``reply_partial``, ``stats``.
- ``GET /v1/stats``: chart history, the last records and the current figures (dashboard).
- ``GET /healthz``, ``GET /metrics`` (Prometheus text, ``core.metrics``' figures).
- ``GET /``: the dashboard; ``/docs``: Swagger UI served from the ``swagger-ui-bundle`` wheel.

The app never touches ROS: ``publish`` and ``node_seen`` are given by the node.
"""
import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional

import swagger_ui_bundle
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field, StrictStr, ValidationError
from typing_extensions import Literal

from claudia_llm.core.errors import InputError
from claudia_llm.core.understanding.inputs import new_request_id, parse_utterance
from claudia_llm.http.guard import Guard
from claudia_llm.http.state import BridgeState

STATIC = Path(__file__).resolve().parent / 'static'
KEEPALIVE_S = 15.0  # an SSE comment this often keeps proxies and browsers from timing out
BODY_SLACK_BYTES = 1024  # room for the JSON wrapper around a text of input.max_bytes


class UtteranceIn(BaseModel):
    """Body of ``POST /v1/utterances``."""

    text: StrictStr = Field(..., description='What was said (plain text).')
    id: Optional[StrictStr] = Field(None, max_length=128, description='Request id; default: a '
                                    'fresh one.')
    priority: Literal['high', 'normal', 'low'] = 'normal'


def create_app(state: BridgeState, publish: Callable[[str], None],
               node_seen: Callable[[], bool], settings: Mapping[str, Any]) -> FastAPI:
    """Build the app.

    Args:
        state: the bridge's ``BridgeState`` (records, events, statistics).
        publish: sends one utterance message (JSON text) on the utterance topic.
        node_seen: True while some node subscribes to the utterance topic.
        settings: http_bridge's parameters (``core.settings.HTTP_BRIDGE`` names).
    """
    timeout_s = settings['http.request_timeout_s']
    max_chars, max_bytes = settings['input.max_chars'], settings['input.max_bytes']

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        ticker = asyncio.ensure_future(_tick(state, settings['http.stats_period_s']))
        try:
            yield
        finally:
            ticker.cancel()

    app = FastAPI(title='claudia_llm http_bridge', version='1', docs_url=None,
                  redoc_url=None, lifespan=lifespan,
                  description='The language brain of a Unitree Go2 over HTTP.')
    # \uXXXX escapes make a JSON text up to 6 times its UTF-8 size.
    app.add_middleware(Guard, token=settings['http.token'],
                       max_body_bytes=6 * max_bytes + BODY_SLACK_BYTES)
    app.mount('/static/swagger', StaticFiles(directory=str(swagger_ui_bundle.swagger_ui_path)),
              name='swagger')
    app.mount('/static', StaticFiles(directory=str(STATIC)), name='static')

    @app.post('/v1/utterances', summary='Say one utterance; returns its response record',
              openapi_extra={'requestBody': {'required': True, 'content': {
                  'application/json': {'schema': UtteranceIn.model_json_schema()}}}})
    async def post_utterance(request: Request):
        # The body is read as JSON whatever its Content-Type (curl -d sends form type).
        try:
            body = UtteranceIn.model_validate_json(await request.body())
        except ValidationError as exc:
            return _invalid(exc)
        request_id = body.id or new_request_id()
        payload = json.dumps({'text': body.text, 'id': request_id, 'priority': body.priority},
                             ensure_ascii=False)
        try:  # the node's own checks, so the caller hears why before anything is sent
            parse_utterance(body.text, max_chars, max_bytes)
        except InputError as exc:
            status = 413 if exc.code == 'too_long' else 422
            return _error(status, str(exc), request_id, exc.code)
        if not node_seen():
            return _error(503, 'no llm_node subscribes to the utterance topic', request_id,
                          'no_node')
        try:
            answer = state.expect(request_id)
        except KeyError:
            return _error(409, 'request id %s is already awaited' % request_id, request_id,
                          'duplicate_id')
        try:
            publish(payload)
            record = await asyncio.wait_for(answer, timeout_s)
        except asyncio.TimeoutError:
            return _error(504, 'no response record within %.1f s' % timeout_s, request_id,
                          'timeout')
        finally:
            state.forget(request_id)
        return JSONResponse(record)

    @app.get('/v1/events', summary='Server-Sent Events: record, action, reply_partial, stats')
    async def events():
        return StreamingResponse(_event_stream(state), media_type='text/event-stream',
                                 headers={'Cache-Control': 'no-cache',
                                          'X-Accel-Buffering': 'no'})

    @app.get('/v1/stats', summary='Chart history, the last records and the figures now')
    async def stats() -> Dict[str, Any]:
        return {'history': state.history(), 'recent': state.recent(), 'now': state.stats()}

    @app.get('/healthz', summary='llm_node seen; Ollama and Redis health from /diagnostics')
    async def healthz():
        health = state.health()
        body = {'llm_node': node_seen(), 'ollama': health['ollama'], 'redis': health['redis'],
                'diagnostics_age_s': health['diagnostics_age_s']}
        return JSONResponse(body, status_code=200 if body['llm_node'] else 503)

    @app.get('/metrics', summary='Prometheus text (the exporter of core.metrics)')
    async def metrics():
        return Response(state.metrics_text(),
                        media_type='text/plain; version=0.0.4; charset=utf-8')

    @app.get('/', include_in_schema=False)
    async def dashboard():
        return FileResponse(str(STATIC / 'index.html'))

    @app.get('/docs', include_in_schema=False)
    async def docs():
        return get_swagger_ui_html(openapi_url=app.openapi_url, title=app.title + ' docs',
                                   swagger_js_url='/static/swagger/swagger-ui-bundle.js',
                                   swagger_css_url='/static/swagger/swagger-ui.css',
                                   swagger_favicon_url='/static/swagger/favicon-32x32.png')

    return app


def _invalid(exc: ValidationError) -> JSONResponse:
    problems = ['%s: %s' % ('.'.join(str(p) for p in e['loc']) or 'body', e['msg'])
                for e in exc.errors()]
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    return JSONResponse({'detail': '; '.join(problems), 'code': 'invalid_input',
                         'errors': errors}, status_code=422)


def _error(status: int, message: str, request_id: str, code: str) -> JSONResponse:
    return JSONResponse({'detail': message, 'code': code, 'request_id': request_id},
                        status_code=status)


async def _tick(state: BridgeState, period_s: float) -> None:
    while True:
        await asyncio.sleep(period_s)
        state.tick()


async def _event_stream(state: BridgeState):
    """SSE frames of ``state``'s events until the client leaves or falls behind."""
    sub = state.subscribe()
    try:
        yield 'retry: 2000\n\n'
        while not sub.overflowed:
            try:
                kind, data = await asyncio.wait_for(sub.queue.get(), KEEPALIVE_S)
            except asyncio.TimeoutError:
                yield ': keep-alive\n\n'
                continue
            yield 'event: %s\ndata: %s\n\n' % (kind, json.dumps(data, ensure_ascii=False))
    finally:
        state.unsubscribe(sub)
