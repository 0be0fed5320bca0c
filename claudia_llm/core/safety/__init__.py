"""Safety: the Go2 action table, the robot's known state and the policy over actions.

May import: the shared core modules (errors, paths, record). Nothing above it.
Exports: ``actions.ActionRegistry``, ``policy.SafetyPolicy``, ``robot_state.RobotState``.
"""
