"""The process: assembly, gunicorn workers and logs, the dev database and migrations."""
