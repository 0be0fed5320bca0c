"""Go2 execution: one action sequence at a time, paced by what the robot reports.

``executor.Executor`` sits between the safety policy and ``/api/sport/request``; the ROS
layer (``claudia_llm.ros.execution``) feeds it SportModeState and sport responses and
publishes its events on ``/claudia/execution``. No rclpy here.
"""
