"""ROS 2 layer of claudia_llm: the two nodes, parameter declaration, QoS profiles.

Everything here runs on Foxy's rclpy (Python 3.8) as well as on newer rclpy wheels;
APIs that newer releases added are imported through ``compat``. The nodes only
translate between messages and ``claudia_llm.core``.
"""
