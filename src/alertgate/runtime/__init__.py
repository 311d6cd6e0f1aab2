"""Processes: the embedded Redis and the supervisor behind ``alertgate run``."""
