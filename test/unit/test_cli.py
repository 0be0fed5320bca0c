"""``claudia-llm``: bad arguments end in one ``claudia-llm: error:`` line and exit code 2.

Every case here fails before rclpy is imported or initialised, so no ROS is needed.
"""
import pytest

from claudia_llm import cli, params_file
from claudia_llm.core.paths import config_dir


def run_cli(capsys, *argv):
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.err.splitlines()


def assert_one_line_error(code, lines, *fragments):
    assert code == 2
    assert len(lines) == 1, lines
    assert lines[0].startswith('claudia-llm: error: ')
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture
def write(tmp_path):
    def make(text, name='params.yaml'):
        path = tmp_path / name
        path.write_text(text, encoding='utf-8')
        return str(path)
    return make


def test_worker_with_zero_slots(capsys):
    code, lines = run_cli(capsys, 'worker', '--slots', '0')
    assert_one_line_error(code, lines, 'parallel_slots must be in [1, 64], got 0')


@pytest.mark.parametrize('url, fragment', [
    ('notaurl', 'redis://, rediss://, unix://'),
    ('redis://host:port/0', 'Port could not be cast'),
])
def test_worker_with_a_bad_redis_url(capsys, url, fragment):
    code, lines = run_cli(capsys, 'worker', '--redis-url', url)
    assert_one_line_error(code, lines, "redis.url '%s'" % url, fragment)


def test_worker_with_a_missing_config(capsys, tmp_path):
    missing = str(tmp_path / 'missing.yaml')
    code, lines = run_cli(capsys, 'worker', '--config', missing)
    assert_one_line_error(code, lines, 'cannot read --config %s' % missing)


@pytest.mark.parametrize('command', [['run'], ['say', 'hello', '--local'], ['eval', 'TSV']])
def test_a_missing_config(capsys, tmp_path, write, command):
    command = [write('utterance\texpected\nsit\tSit\n', 'cases.tsv') if a == 'TSV' else a
               for a in command]
    missing = str(tmp_path / 'missing.yaml')
    code, lines = run_cli(capsys, *command, '--config', missing)
    assert_one_line_error(code, lines,
                          'cannot read --config %s: No such file or directory' % missing)


def test_run_with_broken_yaml(capsys, write):
    path = write('llm_node:\n  ros__parameters:\n    ollama: {host: [1,\n')
    code, lines = run_cli(capsys, 'run', '--config', path)
    assert_one_line_error(code, lines, '--config %s is not valid YAML' % path, '(line ')


def test_run_with_a_file_that_is_not_utf8(capsys, tmp_path):
    path = tmp_path / 'params.yaml'
    path.write_bytes(b'\xff\xfe\x00')
    code, lines = run_cli(capsys, 'run', '--config', str(path))
    assert_one_line_error(code, lines, 'is not UTF-8 text')


@pytest.mark.parametrize('text, fragment', [
    ('', 'the file is empty'),
    ('- llm_node\n- diagnostics_node\n', 'the file is list'),
    ('llm_node:\n  ollama.host: http://x:1\n', 'llm_node/ollama.host is not under ros__param'),
    ('llm_node:\n  ros__parameters:\n', 'llm_node/ros__parameters is empty, not a mapping'),
    ('llm_node:\n  ros__parameters: [1, 2]\n', 'llm_node/ros__parameters is list'),
    ('robot:\n  llm_node:\n    ros__parameters: 3\n', 'robot/llm_node/ros__parameters is int'),
])
def test_run_with_a_file_of_the_wrong_shape(capsys, write, text, fragment):
    path = write(text)
    code, lines = run_cli(capsys, 'run', '--config', path)
    assert_one_line_error(code, lines, 'is not a ROS parameters file', fragment)


@pytest.mark.parametrize('text, fragment', [
    ('llm_node:\n  ros__parameters:\n    ollama:\n      tmeout_s: 2.0\n',
     "llm_node has no parameter 'ollama.tmeout_s'"),
    ('diagnostics_node:\n  ros__parameters:\n    diagnostics:\n      period_s: often\n',
     "diagnostics_node.diagnostics.period_s must be float, got 'often'"),
])
def test_run_with_an_unknown_name_or_a_wrong_type(capsys, write, text, fragment):
    path = write(text)
    code, lines = run_cli(capsys, 'run', '--config', path)
    assert_one_line_error(code, lines, '--config %s: ' % path, fragment)


def test_a_p_value_that_is_not_yaml(capsys):
    code, lines = run_cli(capsys, 'run', '-p', 'ollama.host:=[1,')
    assert_one_line_error(code, lines, '-p ollama.host:=[1,: the value is not valid YAML')


def test_a_p_item_without_assignment(capsys):
    code, lines = run_cli(capsys, 'run', '-p', 'ollama.host=http://x:1')
    assert_one_line_error(code, lines, "-p needs NAME:=VALUE, got 'ollama.host=http://x:1'")


def test_check_params_file_accepts_namespaces_and_wildcards(write):
    path = write('/**:\n  ros__parameters:\n    use_sim_time: false\n'
                 'robot1:\n  llm_node:\n    ros__parameters:\n      ollama: {model: m}\n')
    data = params_file.check_params_file(path)
    assert data['robot1']['llm_node']['ros__parameters'] == {'ollama': {'model': 'm'}}


def test_the_packaged_config_passes_the_check():
    data = params_file.check_params_file(str(config_dir() / 'claudia_llm.yaml'))
    assert set(data) == {'llm_node', 'diagnostics_node', 'go2_simulator', 'http_bridge'}


def test_p_help_names_only_flags_that_exist(capsys):
    for command in ('run', 'say', 'eval'):
        with pytest.raises(SystemExit):
            cli.main([command, '--help'])
        text = ' '.join(capsys.readouterr().out.split())
        assert 'say --local, eval without --attach' in text
        assert 'eval --local' not in text and 'say/eval' not in text


@pytest.mark.parametrize('item, fragment', [
    ('cache.semantic_threshold:=1.5', 'cache.semantic_threshold must be in [0.01, 1.0], got 1.5'),
    ('scheduler.backend:=kafka', "scheduler.backend must be one of ('redis', 'memory')"),
    ('ollama.warmup:=sometimes', "ollama.warmup must be bool, got 'sometimes'"),
])
def test_a_p_value_is_checked_with_the_settings_bounds(capsys, item, fragment):
    code, lines = run_cli(capsys, 'run', '-p', item)
    assert_one_line_error(code, lines, '-p %s: ' % item, fragment)


def test_worker_options_and_the_environment_resolve_the_ollama_host(tmp_path):
    from claudia_llm import worker_main
    args = worker_main._parser().parse_args([])
    env = {'OLLAMA_HOST': 'http://gpu-box:11434'}
    config = worker_main.config_from_args(args, env)
    assert (config.ollama.host, config.ollama_host_source) == (
        'http://gpu-box:11434', 'environment OLLAMA_HOST')
    args = worker_main._parser().parse_args(['--ollama-host', 'http://orin:11434'])
    config = worker_main.config_from_args(args, env)
    assert (config.ollama.host, config.ollama_host_source) == (
        'http://orin:11434', 'parameter ollama.host')


def test_worker_options_pick_the_openai_backend_and_its_base_url():
    from claudia_llm import worker_main
    env = {'OPENAI_BASE_URL': 'http://vllm-box:8000/v1'}
    args = worker_main._parser().parse_args(['--llm-backend', 'openai'])
    config = worker_main.config_from_args(args, env)
    assert config.llm.backend == 'openai'
    assert config.llm_server() == ('http://vllm-box:8000/v1', 'environment OPENAI_BASE_URL')
    args = worker_main._parser().parse_args(['--llm-backend', 'openai',
                                             '--base-url', 'http://orin:8080/v1'])
    assert worker_main.config_from_args(args, env).llm_server() == (
        'http://orin:8080/v1', 'parameter llm.base_url')
