"""``ros.runner.Isolation``: the private names of in-process nodes (no DDS, no Redis here;
test/integration/test_cli_isolation.py checks the isolation end to end)."""
import pytest
import yaml

from claudia_llm.core import settings
from claudia_llm.core.paths import config_dir

pytestmark = pytest.mark.ros


@pytest.fixture
def isolation():
    from claudia_llm.ros.runner import Isolation
    return Isolation(settings.defaults('llm_node'), pid=4242)


def test_every_published_or_subscribed_claudia_topic_moves(isolation):
    """A ``topics.*`` parameter added later must not escape the isolation unnoticed:
    relative ones move with the namespace, absolute ones are overridden."""
    from claudia_llm.ros.runner import NODE_KEYS  # the nodes it runs (not go2_simulator)
    for node in NODE_KEYS:
        overrides = (isolation.llm_overrides() if node == 'llm_node'
                     else isolation.diagnostics_overrides())
        for name in (n for n in settings.NODES[node] if n.startswith('topics.')):
            default = settings.NODES[node][name].default
            if default.startswith('/'):
                assert overrides[name].startswith('/claudia_llm_local_4242/'), name
            else:
                assert name not in overrides, name
            assert isolation.topics[name] == '/claudia_llm_local_4242/' + default.lstrip('/')


def test_absolute_topics_of_a_user_yaml_are_overridden_into_the_namespace():
    from claudia_llm.ros.runner import Isolation
    values = settings.defaults('llm_node')
    values['topics.utterance'] = '/claudia/utterance'
    llm = Isolation(values, pid=7).llm_overrides()
    assert llm['topics.utterance'] == '/claudia_llm_local_7/claudia/utterance'
    assert 'topics.reply' not in llm  # relative: the namespace moves it


def test_overrides_are_valid_values_and_turn_robot_output_off(isolation):
    llm = isolation.llm_overrides()
    assert isolation.topics['topics.utterance'] == '/claudia_llm_local_4242/claudia/utterance'
    assert llm['topics.sport_request'] == '/claudia_llm_local_4242/api/sport/request'
    assert llm['robot.publish_sport_request'] is False
    assert llm['redis.key_prefix'] == 'claudia_llm_local_4242'
    assert isolation.diagnostics_overrides()['diagnostics.prometheus_port'] == 0
    for node, values in (('llm_node', llm),
                         ('diagnostics_node', isolation.diagnostics_overrides())):
        for name, value in values.items():
            assert settings.check(node, name, value) == value


def test_remaps_move_the_node_namespace_and_diagnostics(isolation):
    from claudia_llm.ros.runner import ros_args
    args = ros_args('f.yaml', ['a:=1'], isolation.remaps())
    assert args == ['claudia-llm', '--ros-args', '--params-file', 'f.yaml', '-p', 'a:=1',
                    '-r', '__ns:=/claudia_llm_local_4242',
                    '-r', '/diagnostics:=/claudia_llm_local_4242/diagnostics']


def test_params_yaml_copies_node_sections_under_the_namespace(isolation):
    data = yaml.safe_load((config_dir() / 'claudia_llm.yaml').read_text(encoding='utf-8'))
    moved = isolation.params_yaml(data)
    assert moved['llm_node'] == data['llm_node']
    assert moved['claudia_llm_local_4242'] == {'llm_node': data['llm_node'],
                                               'diagnostics_node': data['diagnostics_node']}
    assert '&id' not in yaml.safe_dump(moved), 'rcl refuses YAML aliases'


def test_params_yaml_reads_sections_written_with_a_leading_slash(isolation):
    data = {'/llm_node': {'ros__parameters': {'ollama': {'model': 'm'}}}}
    assert isolation.params_yaml(data)['claudia_llm_local_4242'] == {
        'llm_node': data['/llm_node']}
