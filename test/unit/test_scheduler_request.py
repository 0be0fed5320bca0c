"""LLMRequest wire form, coalescing keys, result/error serialisation, build.make_scheduler."""
import pytest

from claudia_llm.core import settings as settings_mod
from claudia_llm.core.build import make_scheduler
from claudia_llm.core.config import config_from
from claudia_llm.core.errors import (
    ConfigError,
    LLMError,
    LLMHTTPError,
    LLMTimeout,
    RequestExpired,
)
from claudia_llm.core.llm.ollama import LLMResult
from claudia_llm.core.llm.scheduler import FailoverScheduler, InProcessScheduler
from claudia_llm.core.llm.scheduler.redis_streams import RedisScheduler
from claudia_llm.core.llm.scheduler.request import (
    LLMRequest,
    coalescing_key,
    error_from_dict,
    error_to_dict,
    outcome_from_json,
    outcome_to_json,
    priority_rank,
)
from claudia_llm.core.record import Action, Answer


def test_request_round_trips_through_stream_fields_and_json():
    request = LLMRequest('id-1', 'おすわり', utterance='おすわりして', priority='high',
                         created=1700000000.25, deadline_s=7.5, origin='llm_node', key='k',
                         ticket='t')
    as_bytes = {k.encode(): v.encode() for k, v in request.to_fields().items()}
    assert LLMRequest.from_fields(as_bytes) == request
    assert LLMRequest.from_json(request.to_json().encode()) == request
    assert 'おすわり' in request.to_json()


def test_request_deadline_arithmetic():
    request = LLMRequest('id', 't', created=100.0, deadline_s=10.0)
    assert request.expires_at == 110.0
    assert request.remaining_s(now=104.0) == 6.0
    assert not request.expired(now=109.9) and request.expired(now=110.0)


def test_invalid_requests_name_the_value():
    with pytest.raises(ValueError, match='urgent'):
        LLMRequest('id', 't', priority='urgent')
    with pytest.raises(ValueError, match='-1'):
        LLMRequest('id', 't', deadline_s=-1)
    with pytest.raises(ValueError, match='request_id'):
        LLMRequest('', 't')
    with pytest.raises(KeyError):
        LLMRequest.from_fields({'text': 'no id'})


def test_priority_order():
    assert [priority_rank(p) for p in ('high', 'normal', 'low')] == [0, 1, 2]


def test_coalescing_key_covers_text_model_prompt_and_options_not_their_order():
    base = coalescing_key('立って', 'qwen2.5:7b', 'v1', {'temperature': 0.0, 'seed': 42})
    assert base == coalescing_key('立って', 'qwen2.5:7b', 'v1', {'seed': 42, 'temperature': 0.0})
    others = {coalescing_key('座って', 'qwen2.5:7b', 'v1', {'temperature': 0.0, 'seed': 42}),
              coalescing_key('立って', 'qwen2.5:3b', 'v1', {'temperature': 0.0, 'seed': 42}),
              coalescing_key('立って', 'qwen2.5:7b', 'v2', {'temperature': 0.0, 'seed': 42}),
              coalescing_key('立って', 'qwen2.5:7b', 'v1', {'temperature': 0.5, 'seed': 42})}
    assert base not in others and len(others) == 4


def test_result_round_trips_with_its_answer():
    result = LLMResult(answer=Answer('立ちます', [Action('StandUp', 1004)], kind='command'),
                       model='qwen2.5:7b', prompt_tokens=300, completion_tokens=12,
                       total_ms=1500.0, load_ms=0.0, prompt_eval_ms=400.0, eval_ms=1000.0,
                       ttft_ms=450.0)
    back, error = outcome_from_json(outcome_to_json(result))
    assert error is None and back == result


def test_errors_round_trip_by_code_with_http_status():
    for error in (LLMTimeout('no answer in 8.0 s'), RequestExpired('late'),
                  LLMHTTPError('HTTP 503', status_code=503)):
        _, back = outcome_from_json(outcome_to_json(error=error))
        assert (type(back), back.code, str(back)) == (type(error), error.code, str(error))
    assert back.status_code == 503


def test_unknown_error_code_is_kept_on_a_plain_llm_error():
    error = error_from_dict({'code': 'brand_new', 'message': 'from a newer worker'})
    assert type(error) is LLMError and error.code == 'brand_new'
    assert error_to_dict(error) == {'code': 'brand_new', 'message': 'from a newer worker'}


def _settings(**over):
    values = settings_mod.defaults('llm_node')
    values.update({k.replace('__', '.'): v for k, v in over.items()})
    return config_from(values)


def test_make_scheduler_memory_backend_is_in_process_with_min_bound():
    sched = make_scheduler(_settings(scheduler__backend='memory', ollama__parallel_slots=4,
                                     scheduler__max_concurrency=2), llm=None)
    assert isinstance(sched, InProcessScheduler) and sched.slots.size == 2


def test_make_scheduler_redis_backend_builds_failover_and_in_node_worker():
    from claudia_llm.core.redis_conn import make_redis
    redis = make_redis('redis://127.0.0.1:1/0')  # lazy: no connection is made here
    sched = make_scheduler(_settings(), None, redis, redis, origin='node_a')
    assert isinstance(sched, FailoverScheduler) and len(sched.workers) == 1
    assert sched.workers[0].name.startswith('node_a@')
    assert sched.workers[0].slots is sched.inprocess.slots  # one bound per Ollama host
    assert isinstance(sched._factory(), RedisScheduler)
    no_worker = make_scheduler(_settings(scheduler__in_node_worker=False), None, redis, redis)
    assert no_worker.workers == []


def test_bad_scheduler_settings_are_refused_when_the_config_is_built():
    with pytest.raises(ConfigError, match='kafka'):
        _settings(scheduler__backend='kafka')
    with pytest.raises(ConfigError, match='parallel_slots'):
        _settings(ollama__parallel_slots=0)
