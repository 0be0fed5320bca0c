"""Parameters for the command line: the ``--config`` YAML and ``-p`` items, one-line errors.

``cli``, ``session`` and ``worker_main`` read ``--config``; ``-p`` values are checked by
``core.settings.check``, as the nodes check them.
"""
import sys
from typing import Any, Dict, List, Optional


class UsageError(Exception):
    """A bad argument or parameter value: reported in one line, exit code 2."""


def check_params_file(path: str) -> Any:
    """Check a ROS parameters YAML before rcl reads it; return the parsed mapping.

    rcl reports a missing or broken file as a traceback from ``rclpy.init``; this says
    what is wrong in one line. Node sections may sit under namespaces; every leaf must be
    under a ``ros__parameters`` mapping.

    Raises:
        UsageError: the file cannot be read, is not YAML, or has not the shape
            ``node_name: {ros__parameters: {...}}``.
    """
    import yaml
    try:
        with open(path, encoding='utf-8') as stream:
            data = yaml.safe_load(stream)
    except OSError as exc:
        raise UsageError('cannot read --config %s: %s' % (path, exc.strerror or exc)) from exc
    except UnicodeDecodeError as exc:
        raise UsageError('--config %s is not UTF-8 text: %s' % (path, exc)) from exc
    except yaml.YAMLError as exc:
        raise UsageError('--config %s is not valid YAML: %s' % (path, yaml_problem(exc))
                         ) from exc
    problem = _shape_problem(data)
    if problem:
        raise UsageError('--config %s is not a ROS parameters file (node_name: '
                         '{ros__parameters: {...}}): %s' % (path, problem))
    return data


def yaml_problem(exc) -> str:
    """One line saying what a ``yaml.YAMLError`` found and where (line, column)."""
    mark = getattr(exc, 'problem_mark', None)
    text = getattr(exc, 'problem', None) or str(exc)
    if mark is not None:
        text += ' (line %d, column %d)' % (mark.line + 1, mark.column + 1)
    return ' '.join(text.split())


def _shape_problem(data: Any, where: str = '') -> Optional[str]:
    if not isinstance(data, dict) or not data:
        return '%s is %s, not a mapping of node names' % (
            where or 'the file', 'empty' if not data else type(data).__name__)
    for key, value in data.items():
        name = '%s/%s' % (where, key) if where else str(key)
        if key == 'ros__parameters':
            if not isinstance(value, dict):
                return '%s is %s, not a mapping' % (
                    name, 'empty' if value is None else type(value).__name__)
        elif not isinstance(value, dict):
            return '%s is not under ros__parameters' % name
        else:
            problem = _shape_problem(value, name)
            if problem:
                return problem
    return None


def node_settings(path: str, data: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """``{node: settings}`` of both nodes from ``path``; a bad name or type is a UsageError."""
    from claudia_llm.core.errors import ConfigError
    from claudia_llm.core.settings import NODES, load_yaml
    try:
        return {node: load_yaml(node, path) for node in NODES}
    except ConfigError as exc:
        raise UsageError('--config %s: %s' % (path, exc)) from exc


def checked_overrides(items: List[str]) -> List[str]:
    """Check ``-p NAME:=VALUE`` items with ``settings.check``, as the nodes will.

    Unknown names are reported (a typo would otherwise pass silently); a whole number
    given for a float parameter gets ``.0`` (ROS refuses INTEGER for a DOUBLE).

    Raises:
        UsageError: an item without ``:=``, whose value is not YAML, or whose value
            ``settings.check`` refuses (type or bounds).
    """
    import yaml

    from claudia_llm.core.errors import ConfigError
    from claudia_llm.core.settings import NODES, check
    checked = []
    for item in items:
        name, sep, value = item.partition(':=')
        if not sep or not name:
            raise UsageError('-p needs NAME:=VALUE, got %r' % item)
        try:
            parsed = yaml.safe_load(value)  # rcl parses the value as YAML too
        except yaml.YAMLError as exc:
            raise UsageError('-p %s: the value is not valid YAML: %s' % (item, yaml_problem(exc))
                             ) from exc
        nodes = [node for node, table in NODES.items() if name in table]
        if not nodes:
            print('claudia-llm: warning: unknown parameter %r (ignored)' % name,
                  file=sys.stderr)
            continue
        default = NODES[nodes[0]][name].default
        if parsed is None and isinstance(default, str):
            parsed = ''  # `-p ollama.host:=` means the empty text
        try:
            for node in nodes:
                check(node, name, parsed)
        except ConfigError as exc:
            raise UsageError('-p %s: %s' % (item, exc)) from exc
        if isinstance(default, float) and value.strip().lstrip('+-').isdigit():
            value = value.strip() + '.0'
        checked.append('%s:=%s' % (name, value))
    return checked
