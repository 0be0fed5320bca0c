"""rclpy-free engine of claudia_llm; runs on Python 3.8 with asyncio.

Rooms, lowest first: the shared modules here (record, errors, settings, config, latency,
health, ...), ``safety``, ``understanding``, then ``cache`` | ``llm`` | ``execution`` side by
side, ``pipeline``, ``build`` (constructs clients), ``app`` (``claudia_llm.layering``).
Nothing below this package imports rclpy or any ``*_msgs`` package, so the whole
pipeline can be tested and benchmarked without ROS.
"""
