"""config/claudia_llm.yaml mirrors core.settings: same names, same types, same descriptions."""
import re

import pytest
import yaml

from claudia_llm.core import settings
from claudia_llm.core.errors import ConfigError
from claudia_llm.core.paths import config_dir

YAML_PATH = config_dir() / 'claudia_llm.yaml'


def flatten(data, prefix=''):
    flat = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(flatten(value, prefix + key + '.'))
        else:
            flat[prefix + key] = value
    return flat


def yaml_section(node):
    with open(YAML_PATH, encoding='utf-8') as stream:
        return flatten(yaml.safe_load(stream)[node]['ros__parameters'])


def commented_leaves(text):
    """Map each leaf's dotted name (below ros__parameters) to the comment line above it."""
    found, stack, comment = {}, [], None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith('#'):
            comment = stripped[1:].strip()
            continue
        match = re.match(r'^( *)([A-Za-z_][\w]*):\s*(.*)$', line)
        if not match:
            comment = None
            continue
        indent, key, rest = len(match.group(1)), match.group(2), match.group(3)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        if rest:
            names = [k for _, k in stack if k != 'ros__parameters']
            found[(names[0], '.'.join(names[1:] + [key]))] = comment
        else:
            stack.append((indent, key))
        comment = None
    return found


def test_yaml_has_exactly_the_declared_nodes():
    with open(YAML_PATH, encoding='utf-8') as stream:
        assert set(yaml.safe_load(stream)) == set(settings.NODES)


@pytest.mark.parametrize('node', sorted(settings.NODES))
def test_yaml_keys_equal_declared_names(node):
    assert set(yaml_section(node)) == set(settings.NODES[node])


@pytest.mark.parametrize('node', sorted(settings.NODES))
def test_yaml_values_have_the_declared_type(node):
    # Strict: since Galactic, rclpy refuses an int override of a double parameter, so the
    # YAML must write 1.0, not 1, even though settings.check would accept it.
    wrong = {name: value for name, value in yaml_section(node).items()
             if type(value) is not type(settings.NODES[node][name].default)}
    assert wrong == {}


@pytest.mark.parametrize('node', sorted(settings.NODES))
def test_yaml_documents_every_parameter_with_its_description(node):
    comments = commented_leaves(YAML_PATH.read_text(encoding='utf-8'))
    for name, param in settings.NODES[node].items():
        assert comments.get((node, name)) == param.description, name


@pytest.mark.parametrize('node', sorted(settings.NODES))
def test_load_yaml_reads_the_same_values(node):
    assert settings.load_yaml(node, YAML_PATH) == {
        name: value for name, value in yaml_section(node).items()}


@pytest.mark.parametrize('node', sorted(settings.NODES))
def test_yaml_lists_the_defaults(node):
    # The file's header promises "every parameter is listed with its default value".
    assert yaml_section(node) == settings.defaults(node)


@pytest.mark.parametrize('name, value', [
    ('input.max_chars', 0), ('safety.max_actions', -3), ('cache.semantic_threshold', 1.5),
    ('ollama.timeout_s', 0.0),
])
def test_values_outside_their_range_are_refused(name, value):
    with pytest.raises(ConfigError, match=name.split('.')[1]):
        settings.check('llm_node', name, value)


def test_a_whole_number_for_a_float_parameter_is_range_checked_too():
    from claudia_llm.core.errors import ConfigError
    from claudia_llm.core.settings import check
    assert check('llm_node', 'ollama.timeout_s', 3) == 3.0
    assert isinstance(check('llm_node', 'ollama.timeout_s', 3), float)
    with pytest.raises(ConfigError, match=r'ollama.timeout_s must be in \['):
        check('llm_node', 'ollama.timeout_s', 0)


@pytest.mark.parametrize('value', ['reliable', 'best_effort'])
def test_utterance_reliability_takes_the_two_policies(value):
    assert settings.check('llm_node', 'qos.utterance_reliability', value) == value


def test_utterance_reliability_refuses_other_text():
    with pytest.raises(ConfigError, match='qos.utterance_reliability must be one of'):
        settings.check('llm_node', 'qos.utterance_reliability', 'BEST_EFFORT')
