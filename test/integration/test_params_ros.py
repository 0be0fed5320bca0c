"""ros.params on real rclpy nodes: defaults, YAML and -p overrides, explicit overrides, checks."""
import pytest
import rclpy
from rclpy.context import Context
from rclpy.node import Node
from rclpy.parameter import Parameter

from claudia_llm.core import settings
from claudia_llm.core.errors import ConfigError
from claudia_llm.core.paths import config_dir
from claudia_llm.ros.params import as_parameters, declare_all, validate_change

pytestmark = pytest.mark.ros


@pytest.fixture
def make_node():
    """Build nodes on a private context made with the given ROS arguments; clean up."""
    made = []

    def make(name, args=None, **kwargs):
        context = Context()
        rclpy.init(args=['test'] + (args or []), context=context)
        node = Node(name, context=context, **kwargs)
        made.append((node, context))
        return node

    yield make
    for node, context in made:
        node.destroy_node()
        rclpy.try_shutdown(context=context)


@pytest.mark.parametrize('key', sorted(settings.NODES))
def test_defaults_are_declared_with_descriptions(make_node, key):
    node = make_node(key)
    values = declare_all(node, key)
    assert values == settings.defaults(key)
    for name, param in settings.NODES[key].items():
        assert node.get_parameter(name).value == param.default
        assert node.describe_parameter(name).description == param.description


@pytest.mark.parametrize('key', sorted(settings.NODES))
def test_the_packaged_yaml_loads_through_ros(make_node, key):
    path = str(config_dir() / 'claudia_llm.yaml')
    node = make_node(key, ['--ros-args', '--params-file', path])
    assert declare_all(node, key) == settings.load_yaml(key, path)


def test_params_file_and_dash_p_override_defaults(make_node, tmp_path):
    yaml_file = tmp_path / 'p.yaml'
    yaml_file.write_text('diagnostics_node:\n  ros__parameters:\n    diagnostics:\n'
                         '      window_s: 12.5\n    redis:\n      url: "redis://h:1/2"\n')
    node = make_node('diagnostics_node', ['--ros-args', '--params-file', str(yaml_file),
                                          '-p', 'diagnostics.p95_warn_ms:=900.0'])
    values = declare_all(node, 'diagnostics_node')
    assert values['diagnostics.window_s'] == 12.5
    assert values['redis.url'] == 'redis://h:1/2'
    assert values['diagnostics.p95_warn_ms'] == 900.0
    assert values['diagnostics.period_s'] == settings.defaults('diagnostics_node')[
        'diagnostics.period_s']


def test_explicit_overrides_beat_ros_overrides_and_ints_become_floats(make_node):
    node = make_node('diagnostics_node', ['--ros-args', '-p', 'diagnostics.window_s:=30.0'])
    values = declare_all(node, 'diagnostics_node',
                         {'diagnostics.window_s': 5, 'ollama.host': 'http://o:1'})
    assert values['diagnostics.window_s'] == 5.0
    assert isinstance(values['diagnostics.window_s'], float)
    assert node.get_parameter('diagnostics.window_s').value == 5.0
    assert values['ollama.host'] == 'http://o:1'


def test_node_constructor_overrides_are_read(make_node):
    node = make_node('llm_node', parameter_overrides=as_parameters(
        {'scheduler.queue_size': 3, 'safety.allow_high_risk': True}))
    values = declare_all(node, 'llm_node')
    assert (values['scheduler.queue_size'], values['safety.allow_high_risk']) == (3, True)


@pytest.mark.parametrize('overrides,match', [
    ({'diagnostics.no_such': 1.0}, 'no parameter'),
    ({'diagnostics.period_s': 'fast'}, 'must be float'),
    ({'diagnostics.prometheus_port': True}, 'must be int'),
])
def test_bad_explicit_overrides_raise_config_error(make_node, overrides, match):
    node = make_node('diagnostics_node')
    with pytest.raises(ConfigError, match=match):
        declare_all(node, 'diagnostics_node', overrides)


def test_a_ros_override_of_the_wrong_type_raises_config_error(make_node):
    node = make_node('diagnostics_node', ['--ros-args', '-p', 'diagnostics.period_s:=fast'])
    with pytest.raises(ConfigError, match='period_s'):
        declare_all(node, 'diagnostics_node')


def test_validate_change_gives_reasons():
    key = 'diagnostics_node'
    good = Parameter('diagnostics.p95_warn_ms', Parameter.Type.DOUBLE, 100.0)
    assert validate_change(key, [good]).successful
    unknown = validate_change(key, [Parameter('nope', Parameter.Type.DOUBLE, 1.0)])
    assert not unknown.successful and 'nope' in unknown.reason
    wrong = validate_change(key, [Parameter('diagnostics.window_s', Parameter.Type.STRING,
                                            'x')])
    assert not wrong.successful and 'window_s' in wrong.reason
    frozen = validate_change(key, [Parameter('diagnostics.window_s', Parameter.Type.DOUBLE,
                                             9.0)], live=['diagnostics.p95_warn_ms'])
    assert not frozen.successful and 'start-up' in frozen.reason
    assert validate_change(key, [good], live=['diagnostics.p95_warn_ms']).successful


def diagnostics_node_taking_p95_live(make_node):
    """A declared diagnostics_node whose callback is ``validate_change`` (p95_warn_ms live)."""
    node = make_node('diagnostics_node')
    declare_all(node, 'diagnostics_node')
    node.add_on_set_parameters_callback(
        lambda params: validate_change('diagnostics_node', params,
                                       live=['diagnostics.p95_warn_ms']))
    return node


def test_validate_change_as_a_node_callback(make_node):
    node = diagnostics_node_taking_p95_live(make_node)
    results = node.set_parameters(as_parameters({'diagnostics.p95_warn_ms': 42.0,
                                                 'diagnostics.window_s': 10.0}))
    assert [r.successful for r in results] == [True, False]
    assert 'start-up' in results[1].reason
    assert node.get_parameter('diagnostics.p95_warn_ms').value == 42.0
    assert node.get_parameter('diagnostics.window_s').value == settings.defaults(
        'diagnostics_node')['diagnostics.window_s']


def test_a_live_change_of_another_type_is_checked_by_us_not_refused_by_rclpy(make_node):
    """2 for a float is 2.0 (as on Foxy); a text is refused naming the parameter and type."""
    node = diagnostics_node_taking_p95_live(make_node)
    whole, text = node.set_parameters([
        Parameter('diagnostics.p95_warn_ms', Parameter.Type.INTEGER, 900),
        Parameter('diagnostics.p95_warn_ms', Parameter.Type.STRING, 'fast')])
    assert whole.successful
    assert settings.check('diagnostics_node', 'diagnostics.p95_warn_ms',
                          node.get_parameter('diagnostics.p95_warn_ms').value) == 900.0
    assert not text.successful
    assert "diagnostics.p95_warn_ms must be float, got 'fast'" in text.reason
