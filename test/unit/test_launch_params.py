"""The launch file's choice of overrides: the params file wins unless an argument is given."""
import ast
from pathlib import Path

import pytest

from claudia_llm.ros import launch_params
from claudia_llm.ros.launch_params import LAUNCH_ARGUMENTS, node_parameters, ros_arguments

LAUNCH_FILE = Path(__file__).resolve().parents[2] / 'launch' / 'claudia_llm.launch.py'


def test_no_arguments_given_passes_only_the_params_file():
    assert node_parameters('/p.yaml', {}) == ['/p.yaml']
    assert node_parameters('/p.yaml', {arg: '' for arg, _, _ in LAUNCH_ARGUMENTS}) == [
        '/p.yaml']


@pytest.mark.parametrize('given, overrides', [
    ({'ollama_host': 'http://gpu:11434'}, {'ollama.host': 'http://gpu:11434'}),
    ({'model': 'qwen2.5:3b', 'redis_url': ' '}, {'ollama.model': 'qwen2.5:3b'}),
    ({'redis_url': 'redis://r:1/0', 'ollama_host': ''}, {'redis.url': 'redis://r:1/0'}),
    ({'llm_backend': 'openai', 'base_url': 'http://orin:8080/v1'},
     {'llm.backend': 'openai', 'llm.base_url': 'http://orin:8080/v1'}),
])
def test_only_the_given_arguments_override_the_file(given, overrides):
    assert node_parameters('/p.yaml', given) == ['/p.yaml', overrides]


def test_ros_arguments_put_the_overrides_after_the_file():
    assert ros_arguments(['/p.yaml', {'redis.url': 'redis://r:1/0'}]) == [
        '--ros-args', '--params-file', '/p.yaml', '-p', 'redis.url:=redis://r:1/0']


def test_the_launch_file_takes_its_parameters_from_node_parameters():
    tree = ast.parse(LAUNCH_FILE.read_text(encoding='utf-8'))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                and node.module == 'claudia_llm.ros.launch_params' for alias in node.names}
    assert {'LAUNCH_ARGUMENTS', 'node_parameters'} <= imported
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
             and getattr(node.func, 'id', None) == 'Node']
    assert calls and all(
        any(k.arg == 'parameters' and isinstance(k.value, ast.Name)
            and k.value.id == 'parameters' for k in call.keywords) for call in calls)
    defaults = [k.value.value for node in ast.walk(tree) if isinstance(node, ast.Call)
                and getattr(node.func, 'id', None) == 'DeclareLaunchArgument'
                and node.args and getattr(node.args[0], 'value', None) != 'params_file'
                for k in node.keywords if k.arg == 'default_value'
                and isinstance(k.value, ast.Constant)]
    assert len(defaults) == 3 and set(defaults) == {''}, 'overrides must default to not given'


@pytest.mark.parametrize('value, extra', [('', ()), ('false', ()), ('False', ()),
                                          ('true', ('http_bridge',)),
                                          ('TRUE', ('http_bridge',))])
def test_http_true_adds_http_bridge(value, extra):
    assert launch_params.node_names(value) == ('llm_node', 'diagnostics_node') + extra


def test_http_other_than_true_or_false_is_refused():
    with pytest.raises(ValueError, match='true or false'):
        launch_params.node_names('yes')
