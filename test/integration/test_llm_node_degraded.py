"""llm_node starts and answers with no Ollama, and with no Redis, at start-up."""
import pytest
from stack import Stack


@pytest.fixture
def no_ollama_stack(redis_server, closed_port):
    s = Stack({'redis.url': redis_server.url,
               'ollama.host': 'http://127.0.0.1:%d' % closed_port})
    yield s
    s.close()


def test_without_ollama_commands_work_and_the_rest_says_it_cannot_think(no_ollama_stack):
    assert no_ollama_stack.ask('おすわり')['intent'] == ['Sit']
    assert no_ollama_stack.ask('止まって')['source'] == 'emergency'
    record = no_ollama_stack.ask('tell me a story about the moon')
    assert record['source'] == 'fallback'
    assert record['error']['code'] == 'llm_unavailable'
    assert record['reply'] == "Sorry, I can't think right now."


def test_without_redis_at_start_the_node_answers_from_memory(ollama_server, closed_port):
    s = Stack({'redis.url': 'redis://127.0.0.1:%d/0' % closed_port,
               'ollama.host': ollama_server.url, 'redis.connect_timeout_s': 0.2})
    try:
        assert s.ask('立って')['intent'] == ['StandUp']
        record = s.ask('what is your favourite toy')
        assert record['source'] == 'llm' and record['error'] is None
        assert s.ask('what is your favourite toy')['source'] == 'exact'
    finally:
        s.close()
