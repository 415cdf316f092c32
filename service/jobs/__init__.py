"""Background jobs of the worker process (service/worker.py), one job per module."""
