"""What ``launch/claudia_llm.launch.py`` passes to each node, as a plain tested function.

The launch file hands a node the params file and only the launch arguments actually
given, so the file's values win for everything else (the ``ros2 launch`` convention; a
launch argument defaulting to a value would silently beat the YAML). Kept here because the
ROS ``launch`` package is not installable off a ROS install, and so cannot be tested.
"""
from typing import Any, Dict, List, Mapping, Tuple, Union

LAUNCH_ARGUMENTS = (
    ('ollama_host', 'ollama.host', 'Ollama base URL (default: the params file, else '
                                   '$OLLAMA_HOST, else http://127.0.0.1:11434)'),
    ('model', 'ollama.model', 'Model: Ollama tag or OpenAI-compatible model id (default: '
                              'the params file)'),
    ('llm_backend', 'llm.backend', 'ollama or openai (default: the params file)'),
    ('base_url', 'llm.base_url', 'OpenAI-compatible API root (default: the params file, '
                                 'else $OPENAI_BASE_URL, else http://127.0.0.1:8080/v1)'),
    ('redis_url', 'redis.url', 'Redis URL (default: the params file)'),
)
"""``(launch argument, parameter, description)``; each defaults to '' = not given."""


def node_names(http: str) -> Tuple[str, ...]:
    """Executables to start: llm_node and diagnostics_node, plus http_bridge for ``http:=true``.

    Raises:
        ValueError: ``http`` is neither 'true' nor 'false' (any case; '' = false).
    """
    value = str(http or 'false').strip().lower()
    if value not in ('true', 'false'):
        raise ValueError('launch argument http must be true or false, got %r' % (http,))
    return ('llm_node', 'diagnostics_node') + (('http_bridge',) if value == 'true' else ())


def node_parameters(params_file: str, given: Mapping[str, str]
                    ) -> List[Union[str, Dict[str, Any]]]:
    """``parameters=`` of a launch_ros ``Node``: the file, then only the given overrides.

    Args:
        params_file: path of the ROS parameters YAML.
        given: ``{launch argument: value}``; '' (or a missing name) means not given.

    Returns:
        ``[params_file]`` or ``[params_file, {parameter: value}]`` (later entries win).
    """
    overrides = {param: given[arg] for arg, param, _ in LAUNCH_ARGUMENTS
                 if str(given.get(arg, '') or '').strip()}
    return [params_file] + ([overrides] if overrides else [])


def ros_arguments(parameters: List[Union[str, Dict[str, Any]]]) -> List[str]:
    """The same parameters as rcl command-line arguments (``--params-file F -p k:=v``).

    What launch_ros does with ``parameters=`` (it writes the dict to a temporary params
    file, given after the first); used to start a node exactly so in tests.
    """
    args = ['--ros-args']
    for entry in parameters:
        if isinstance(entry, dict):
            for name, value in entry.items():
                args += ['-p', '%s:=%s' % (name, value)]
        else:
            args += ['--params-file', entry]
    return args
