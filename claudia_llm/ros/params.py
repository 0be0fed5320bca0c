"""Declare every parameter of a node from ``core.settings``, the Foxy-safe way.

Only APIs Foxy's rclpy has are used: ``node.declare_parameter(name, value, descriptor)``
with a default value (Foxy cannot declare a typed parameter without one),
``ParameterDescriptor(description=...)`` (``dynamic_typing``, Galactic+, only where the
field exists: ``_descriptor``),
``node.set_parameters`` and ``SetParametersResult``.

Precedence of a value: ``overrides`` passed here (the CLI's explicit values) beat ROS
parameter overrides (``--params-file`` YAML, ``-p``, launch files), which beat the
defaults in ``core.settings``.
"""
from typing import Any, Dict, Iterable, List, Optional

import rclpy.exceptions
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.parameter import Parameter

from claudia_llm.core import settings
from claudia_llm.core.errors import ConfigError

_DECLARE_ERRORS = (TypeError, ValueError) + tuple(
    getattr(rclpy.exceptions, name) for name in
    ('ParameterException', 'InvalidParameterValueException', 'InvalidParameterTypeException')
    if hasattr(rclpy.exceptions, name))


def declare_all(node, node_key: str, overrides: Optional[Dict[str, Any]] = None
                ) -> Dict[str, Any]:
    """Declare every parameter of ``settings.NODES[node_key]`` on ``node``; return values.

    Args:
        node: an ``rclpy.node.Node`` on which none of these names is declared yet.
        node_key: ``'llm_node'`` or ``'diagnostics_node'``.
        overrides: ``{name: value}`` applied after declaration (beats YAML and ``-p``).

    Returns:
        ``{name: value}`` read back from the node, type-checked by ``settings.check``
        (ints given for float parameters come back as floats).

    Raises:
        ConfigError: unknown name or wrong type in ``overrides``, a ROS override of the
            wrong type (rclpy's exception is the cause), or a value rclpy refused.
    """
    table = settings.NODES[node_key]
    checked = {name: settings.check(node_key, name, value)
               for name, value in (overrides or {}).items()}
    for name, param in table.items():
        try:
            node.declare_parameter(name, param.default, _descriptor(param.description))
        except _DECLARE_ERRORS as exc:
            raise ConfigError('%s: cannot declare %s (default %r): %s'
                              % (node_key, name, param.default, exc)) from exc
    if checked:
        _set(node, node_key, checked)
    return {name: settings.check(node_key, name, node.get_parameter(name).value)
            for name in table}


def _descriptor(description: str) -> ParameterDescriptor:
    """A descriptor that leaves type checks to ``settings.check``.

    rclpy from Galactic on refuses a value of another type than the default's before any
    callback runs, with a reason such as "Wrong parameter type, expected '3' got '2'" (and
    refuses 2 for a float). With ``dynamic_typing`` (Galactic+) our check runs instead:
    2 becomes 2.0, and a wrong type is refused naming the parameter and the type wanted,
    as on Foxy, which has neither the field nor rclpy's type check.
    """
    descriptor = ParameterDescriptor(description=description)
    if hasattr(descriptor, 'dynamic_typing'):
        descriptor.dynamic_typing = True
    return descriptor


def _set(node, node_key: str, values: Dict[str, Any]) -> None:
    params = as_parameters(values)
    results = node.set_parameters(params)
    refused = ['%s (%s)' % (p.name, r.reason) for p, r in zip(params, results)
               if not r.successful]
    if refused:
        raise ConfigError('%s: overrides refused: %s' % (node_key, ', '.join(refused)))


def as_parameters(values: Dict[str, Any]) -> List[Parameter]:
    """Turn ``{name: value}`` into ``rclpy.parameter.Parameter`` objects.

    The type is passed explicitly: Foxy's ``Parameter(name, value=...)`` does not infer it.
    """
    return [Parameter(name, Parameter.Type.from_parameter_value(value), value)
            for name, value in values.items()]


def validate_change(node_key: str, params: Iterable[Parameter],
                    live: Optional[Iterable[str]] = None) -> SetParametersResult:
    """Check a parameter change for an ``add_on_set_parameters_callback`` callback.

    Only checks; applying an accepted change is the caller's separate step (STYLE.md).

    Args:
        node_key: ``'llm_node'`` or ``'diagnostics_node'``.
        params: the ``rclpy.parameter.Parameter`` objects to be set.
        live: names the node can apply while running; when given, a change of any other
            name is refused with a reason saying it is read at start-up only.

    Returns:
        ``SetParametersResult(successful=True)``, or ``successful=False`` with a
        ``reason`` naming the parameter and the problem.
    """
    live = None if live is None else set(live)
    for param in params:
        try:
            settings.check(node_key, param.name, param.value)
        except ConfigError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        if live is not None and param.name not in live:
            return SetParametersResult(
                successful=False,
                reason='%s is read at start-up only; restart %s to change it'
                       % (param.name, node_key))
    return SetParametersResult(successful=True)
