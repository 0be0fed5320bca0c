"""HTTP API and live dashboard of claudia_llm (FastAPI).

No rclpy here: ``ros.http_bridge`` owns the ROS side.
"""
