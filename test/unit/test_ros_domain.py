"""Tests and the demo never run on the shell's ROS domain (it may be a robot's)."""
import doctest

import pytest

from claudia_llm.testing import ros_domain


def test_the_private_domain_is_never_the_shells():
    for pid in range(300):
        for shell in ('0', '1', '42', '100'):
            env = {'ROS_DOMAIN_ID': shell}
            domain = ros_domain.use_private_domain(env) if pid == 0 else \
                ros_domain.private_domain_id(avoid=shell, pid=pid)
            assert str(domain) != shell and 1 <= domain <= 100


def test_an_explicit_domain_wins_and_is_checked():
    env = {'ROS_DOMAIN_ID': '0', 'CLAUDIA_DOMAIN_ID': '77'}
    assert ros_domain.use_private_domain(env) == 77 and env['ROS_DOMAIN_ID'] == '77'
    with pytest.raises(ValueError, match='0..232'):
        ros_domain.use_private_domain({'CLAUDIA_DOMAIN_ID': '999'})


def test_examples_hold():
    assert doctest.testmod(ros_domain).failed == 0


def test_a_second_call_for_the_process_keeps_the_first_choice(monkeypatch):
    monkeypatch.setattr(ros_domain, '_chosen', [])
    monkeypatch.setenv('ROS_DOMAIN_ID', '5')
    first = ros_domain.use_private_domain()
    assert first != 5 and ros_domain.use_private_domain() == first
    assert ros_domain.os.environ['ROS_DOMAIN_ID'] == str(first)
