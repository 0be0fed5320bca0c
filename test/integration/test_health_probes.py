"""core.health probes against a real redis-server and the Ollama-protocol test server."""
import pytest

from claudia_llm.core.health import ollama_healthy, redis_healthy
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
async def test_ollama_refused(closed_port):
    ok, message = await ollama_healthy('http://127.0.0.1:%d' % closed_port, 0.5)
    assert not ok and 'ConnectionError' in message


@pytest.mark.asyncio
async def test_ollama_test_server_answers_and_reports_loaded_models():
    async with OllamaTestServer(models=('qwen2.5:7b',)) as server:
        ok, message = await ollama_healthy(server.url, 2.0, model='qwen2.5:7b')
        assert ok
        assert message == 'ok; loaded: none; qwen2.5:7b not loaded'
        await _chat_once(server.url)
        ok, message = await ollama_healthy(server.url, 2.0, model='qwen2.5:7b')
        assert ok and message.endswith('qwen2.5:7b loaded')


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
                                       (redis_healthy, 'redis://127.0.0.1:%d/0')])
async def test_a_silent_server_gives_a_bounded_failure(probe, url, silent_port):
    ok, message = await probe(url % silent_port, 0.3)
    assert not ok and str(silent_port) in message
