"""`durable-batch`: a command line for the job API (submit, watch, list, cancel, delete, results).

It speaks only HTTP to a running app (devhost or Azure), so it imports nothing of the app itself; the one
exception is `results download`, which reads the job's blobs with a storage connection string.
"""
