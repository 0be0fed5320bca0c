"""A private ROS 2 domain for the tests and the demo, never the shell's (a robot's) one.

The integration tests and ``make demo`` publish utterances and Go2 sport Requests (to the
simulator). In a shell where ``ROS_DOMAIN_ID`` points at a real robot, those would reach
its llm_node and its sport service, and it would act. So they move to a domain of their
own, derived from the process id, and never the one the shell had; ``CLAUDIA_DOMAIN_ID``
names one explicitly (for watching the demo with ``ros2 topic echo``, or to keep parallel
runs apart by hand).
"""
import os
from typing import MutableMapping, Optional

EXPLICIT = 'CLAUDIA_DOMAIN_ID'
"""Environment variable that names the private domain explicitly."""
LOW, HIGH = 1, 100
"""Domains used: 1..100 keep FastDDS's ports (7400 + 250 x domain) below the ephemeral range."""


def private_domain_id(avoid: Optional[str] = None, pid: Optional[int] = None) -> int:
    """A domain id in ``LOW..HIGH`` from ``pid`` (default ``os.getpid()``), never ``avoid``.

    >>> private_domain_id(pid=41), private_domain_id(avoid='42', pid=41)
    (42, 43)
    """
    span = HIGH - LOW + 1
    domain = LOW + (os.getpid() if pid is None else pid) % span
    if avoid is not None and str(domain) == str(avoid).strip():
        domain = LOW + (domain - LOW + 1) % span
    return domain


_chosen = []  # type: List[int]  # the domain chosen for os.environ, so later calls keep it


def use_private_domain(env: Optional[MutableMapping[str, str]] = None) -> int:
    """Set ``ROS_DOMAIN_ID`` in ``env`` (default ``os.environ``) to a private domain.

    Call before ``rclpy.init`` (rcl reads the variable then) and before starting child
    processes; later calls for ``os.environ`` keep the first choice. Returns the domain.

    Raises:
        ValueError: ``CLAUDIA_DOMAIN_ID`` is set but not an integer in 0..232.
    """
    process = env is None or env is os.environ
    env = os.environ if env is None else env
    if process and _chosen:
        env['ROS_DOMAIN_ID'] = str(_chosen[0])
        return _chosen[0]
    explicit = env.get(EXPLICIT, '').strip()
    if explicit:
        domain = int(explicit)
        if not 0 <= domain <= 232:
            raise ValueError('%s must be in 0..232, got %r' % (EXPLICIT, explicit))
    else:
        domain = private_domain_id(avoid=env.get('ROS_DOMAIN_ID'))
    env['ROS_DOMAIN_ID'] = str(domain)
    if process:
        _chosen.append(domain)
    return domain
