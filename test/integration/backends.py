"""The LLM backends the LLM-path integration tests run against, on one test server.

``OllamaTestServer`` speaks both protocols with the same scripts, timing and faults:
``/api/chat`` for ``llm.backend: ollama`` (``OllamaChat``) and ``/v1/chat/completions`` for
``llm.backend: openai`` (``OpenAIChat``). Tests take the ``llm_backend`` fixture (conftest)
and build their client, node parameters or log filter here.
"""
from typing import Any, Dict, List, Mapping, Optional

from claudia_llm.core.llm.ollama import OllamaChat
from claudia_llm.core.llm.openai_chat import OpenAIChat

BACKENDS = ('ollama', 'openai')
ENDPOINTS = {'ollama': '/api/chat', 'openai': '/v1/chat/completions'}


def base_url(backend: str, server_url: str) -> str:
    """The URL a client of ``backend`` is given for the test server at ``server_url``."""
    return server_url + '/v1' if backend == 'openai' else server_url


def node_overrides(backend: str, server_url: str) -> Dict[str, Any]:
    """llm_node parameters that point ``backend`` at the server (``server_url`` may be a
    closed port)."""
    if backend == 'openai':
        return {'llm.backend': 'openai', 'llm.base_url': base_url(backend, server_url)}
    return {'ollama.host': server_url}


def make_chat(backend: str, server_url: str, model: str, profile: Any,
              options: Optional[Mapping[str, Any]] = None, keep_alive: Any = '30m',
              **kwargs: Any):
    """``OllamaChat`` or ``OpenAIChat`` on the server, with Ollama ``options`` translated
    (``num_predict`` -> ``max_tokens``; ``num_ctx`` and ``keep_alive`` are Ollama's only)."""
    url = base_url(backend, server_url)
    if backend == 'openai':
        return OpenAIChat(url, model, profile, options=openai_options(options), **kwargs)
    return OllamaChat(url, model, profile, options=options, keep_alive=keep_alive, **kwargs)


def openai_options(options: Optional[Mapping[str, Any]]) -> Optional[Dict[str, Any]]:
    """The OpenAI request fields of Ollama ``options`` (as ``core.config`` maps them)."""
    if options is None:
        return None
    names = {'temperature': 'temperature', 'seed': 'seed', 'num_predict': 'max_tokens'}
    return {names[k]: v for k, v in options.items() if k in names}


def logged_options(backend: str, options: Mapping[str, Any]) -> Dict[str, Any]:
    """The ``options`` the server logs for a client built with Ollama ``options``."""
    if backend == 'openai':
        return {k: v for k, v in options.items() if k != 'num_ctx'}
    return dict(options)


def chat_requests(entries: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The chat requests (either protocol) of a server request log."""
    return [e for e in entries if e.get('endpoint', '/api/chat') in ENDPOINTS.values()
            and e.get('messages')]
