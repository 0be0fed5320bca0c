"""core.health probes against a real redis-server and the test server (both protocols)."""
import pytest
from backends import base_url

from claudia_llm.core.config import config_from
from claudia_llm.core.health import llm_probe, ollama_healthy, openai_healthy, redis_healthy
from claudia_llm.testing.ollama_server import OllamaTestServer


@pytest.mark.asyncio
async def test_redis_up_down_and_back(redis_server):
    ok, message = await redis_healthy(redis_server.url, 0.5)
    assert ok and message.startswith('ok; PING')
    redis_server.stop()
    ok, message = await redis_healthy(redis_server.url, 0.5)
    assert not ok and 'ConnectionError' in message and str(redis_server.port) in message
    redis_server.start()
    assert (await redis_healthy(redis_server.url, 0.5))[0]


@pytest.mark.asyncio
async def test_redis_password_is_not_shown(closed_port):
    ok, message = await redis_healthy('redis://u:hunter2@127.0.0.1:%d/0' % closed_port, 0.5)
    assert not ok and 'hunter2' not in message and '***@' in message


@pytest.mark.asyncio
async def test_llm_server_refused(closed_port, llm_backend):
    probe = llm_probe(_config(llm_backend, 'http://127.0.0.1:%d' % closed_port), 0.5)
    ok, message = await probe()
    assert not ok and 'ConnectionError' in message and str(closed_port) in message


def _config(backend, url):
    return config_from({'llm.backend': backend, 'ollama.host': url,
                        'llm.base_url': base_url(backend, url)}, environ={})


@pytest.mark.asyncio
async def test_ollama_test_server_answers_and_reports_loaded_models():
    async with OllamaTestServer(models=('qwen2.5:7b',)) as server:
        ok, message = await ollama_healthy(server.url, 2.0, model='qwen2.5:7b')
        assert ok
        assert message == 'ok; loaded: none; qwen2.5:7b not loaded'
        await _chat_once(server.url)
        ok, message = await ollama_healthy(server.url, 2.0, model='qwen2.5:7b')
        assert ok and message.endswith('qwen2.5:7b loaded')


@pytest.mark.asyncio
async def test_openai_test_server_lists_its_models_and_wants_no_real_key():
    async with OllamaTestServer(models=('qwen2.5:7b',)) as server:
        probe = llm_probe(_config('openai', server.url), 2.0)
        assert await probe() == (True, 'ok; served: qwen2.5:7b; qwen2.5:7b served')
        ok, message = await openai_healthy(server.url + '/v1', 2.0, model='llama3:8b',
                                           api_key='sk-anything')
        assert ok and message.endswith('llama3:8b not listed')
        ok, message = await openai_healthy(server.url + '/nowhere', 2.0)
        assert not ok and 'HTTP 404' in message


async def _chat_once(url):
    import ollama
    client = ollama.AsyncClient(host=url, timeout=5.0)
    try:
        await client.chat(model='qwen2.5:7b', messages=[{'role': 'user', 'content': 'hi'}])
    finally:
        await client.close()


@pytest.fixture
def silent_port():
    """A loopback port that accepts TCP connections (kernel backlog) and never answers."""
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        sock.listen(8)
        yield sock.getsockname()[1]


@pytest.mark.asyncio
@pytest.mark.parametrize('probe,url', [(ollama_healthy, 'http://127.0.0.1:%d'),
                                       (openai_healthy, 'http://127.0.0.1:%d/v1'),
                                       (redis_healthy, 'redis://127.0.0.1:%d/0')])
async def test_a_silent_server_gives_a_bounded_failure(probe, url, silent_port):
    ok, message = await probe(url % silent_port, 0.3)
    assert not ok and str(silent_port) in message
