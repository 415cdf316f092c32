"""Measure what guarding one database use costs: the watchdog against a Timer per use.

    .venv/bin/python -m bench.deadline_overhead

No database needed: a stand-in connection object is watched, which is all the guard touches
on the normal path (a deadline that never fires).
"""

from __future__ import annotations

import threading
import timeit
from time import monotonic

from service.data.deadline import Watchdog


class _Conn:
    closed = False


def main() -> None:
    """Print the cost per guarded use of each approach, in microseconds."""
    conn = _Conn()
    dog = Watchdog()
    n = 50_000

    def watchdog_use() -> None:
        with dog.watch(conn, monotonic() + 4.0):  # type: ignore[arg-type]
            pass

    def timer_use() -> None:
        timer = threading.Timer(4.0, lambda: None)
        timer.start()
        timer.cancel()

    def bare() -> None:
        pass

    for name, fn, count in (
        ("no guard", bare, n),
        ("watchdog", watchdog_use, n),
        ("Timer per use", timer_use, n // 10),
    ):
        best = min(timeit.repeat(fn, number=count, repeat=3)) / count
        print(f"{name:14s} {best * 1e6:8.2f} us per use")
    dog.stop()


if __name__ == "__main__":
    main()
