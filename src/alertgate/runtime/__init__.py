"""Processes and plumbing: the supervisor and instance lock behind ``alertgate run``, serving on
N processes, the HTTP protocol bounds, Redis connections, the embedded Redis, write batching."""
