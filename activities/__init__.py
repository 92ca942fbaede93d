"""Task execution: the activities that run a job's tasks (handlers and command lines) and record results."""
