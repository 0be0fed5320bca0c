"""rclpy-free engine of claudia_llm; runs on Python 3.8 with asyncio.

Nothing below this package imports rclpy or any ``*_msgs`` package, so the whole
pipeline can be tested and benchmarked without ROS.
"""
