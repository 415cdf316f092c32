"""The Tasks service: a per-user task (to-do) REST backend on PostgreSQL."""
