"""Reading a ROS parameters YAML for the command line, with one-line errors.

``cli`` and ``worker_main`` both read ``--config``; this module is what they share, so
neither imports the other.
"""
from typing import Any, Optional


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
