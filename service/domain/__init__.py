"""Rules of the task model with no I/O: recurrence, manual positions, all-day dates and zones."""
