#!/usr/bin/env python3
"""Load-test a deployed Tasks service: seed it through its API, then run closed-loop workloads.

    python3 bench/loadtest.py http://127.0.0.1:8000 --out bench/out/run.jsonl
    python3 bench/loadtest.py http://127.0.0.1:8100 --duration 3 --connections 8 \\
        --workloads get,list,toggle,create,mixed,filter --label main

Python 3.11+ standard library only: one thread per connection, each with its own keep-alive
http.client connection, sending its next request as soon as the previous answer arrived (closed
loop). Writes one JSON line per workload (plus meta, seed and end lines) to --out and prints a
table at the end. Stops by itself: every workload is bounded by --duration and the whole run by
--max-total. Refuses any target that is not a loopback address unless --allow-remote is given.
See bench/README.md for what the numbers mean.
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import json
import os
import platform
import random
import secrets
import socket
import sys
import threading
import time
import urllib.parse
from array import array
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

WORKLOADS = ("get", "list", "toggle", "create", "mixed", "filter")
DEFAULT_WORKLOADS = "get,list,toggle,create,mixed"
# mixed: the perf kit's blend, so its lines compare with ours.
MIXED_WEIGHTS = {"get": 60, "list": 20, "toggle": 10, "create": 10}
FILTER_QUERY = "status=pending&sort=-created_at"
CREATE_BODY = json.dumps({"title": "bench task", "description": "created by loadtest"}).encode()
CLIENT = "bench/loadtest.py: python http.client, one thread and keep-alive connection each"
MAX_CONNECTIONS = 512  # threads, not sockets in an event loop: beyond this the client is the test
PAUSE_S = 0.5  # between workloads, so one's stragglers do not land in the next
CLIENT_BUSY_PCT = 80.0  # of one core; the GIL keeps this process near one core at most
ERROR_BACKOFF_S = 0.05  # after a transport error, so a dead server is not hammered in a tight loop

Request = tuple[str, str, bytes | None]
Picker = Callable[[random.Random], Request]
Line = dict[str, Any]


# --- target and safety -------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where the load goes: the address to connect to and the Host header to send."""

    scheme: str
    connect_host: str
    port: int
    host_header: str
    path_prefix: str
    timeout: float

    def connection(self) -> http.client.HTTPConnection:
        """Return a new, not yet connected, keep-alive connection to the target."""
        cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        return cls(self.connect_host, self.port, timeout=self.timeout)

    def path(self, rest: str) -> str:
        """Return `rest` (starting with /) below the base URL's path."""
        return self.path_prefix + rest


def resolve_addresses(host: str, port: int) -> list[str]:
    """Return every IP address `host` resolves to (an IP literal resolves to itself)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise SystemExit(f"loadtest: cannot resolve {host!r}: {exc}") from None
    return list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos))


def is_loopback(address: str) -> bool:
    """Tell whether `address` is in 127.0.0.0/8 or is ::1."""
    return ipaddress.ip_address(address).is_loopback


def first_listening(addresses: list[str], port: int, timeout: float) -> str:
    """Return the first address that accepts a connection on `port` (else the first one)."""
    for address in addresses:
        try:
            socket.create_connection((address, port), timeout=timeout).close()
        except OSError:
            continue
        return address
    return addresses[0]


def make_target(base_url: str, allow_remote: bool, timeout: float) -> Target:
    """Parse the base URL and refuse it unless it is loopback (or remote targets are allowed)."""
    parts = urllib.parse.urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SystemExit(
            f"loadtest: base URL must be http(s)://host[:port][/prefix], not {base_url!r}"
        )
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = resolve_addresses(parts.hostname, port)
    remote = [a for a in addresses if not is_loopback(a)]
    if remote and not allow_remote:
        raise SystemExit(
            f"loadtest: refusing to load {parts.hostname} ({', '.join(remote)}): not a loopback "
            "address. Only 127.0.0.0/8 and ::1 are allowed unless you pass --allow-remote, and "
            "only against a deployment you are entitled to load."
        )
    # Plain HTTP to loopback connects to an address checked above, so a later DNS answer cannot
    # move the load elsewhere; HTTPS keeps the name for certificate checks.
    pinned = parts.scheme == "http" and not remote
    return Target(
        scheme=parts.scheme,
        connect_host=first_listening(addresses, port, timeout) if pinned else parts.hostname,
        port=port,
        host_header=parts.netloc.rpartition("@")[2],
        path_prefix=parts.path.rstrip("/"),
        timeout=timeout,
    )


def exchange(
    conn: http.client.HTTPConnection, target: Target, method: str, path: str, body: bytes | None
) -> tuple[int, bytes]:
    """Send one request on `conn` and return the status and the whole body."""
    headers = {"Host": target.host_header}
    if body is not None:
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    return resp.status, resp.read()


# --- measuring ---------------------------------------------------------------------------------


@dataclass
class Tally:
    """What one connection saw: latencies of answered requests, statuses, transport errors."""

    latencies: array = field(default_factory=lambda: array("d"))
    statuses: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    connects: int = 0

    def absorb(self, other: Tally) -> None:
        """Add another connection's counts to this one."""
        self.latencies.extend(other.latencies)
        self.statuses.update(other.statuses)
        self.errors.update(other.errors)
        self.connects += other.connects


def drive(target: Target, picker: Picker, until: float, tally: Tally, seed: int) -> None:
    """Send requests back to back on one connection until the clock passes `until`."""
    rng = random.Random(seed)  # noqa: S311 - picks request paths, nothing secret
    conn = target.connection()
    try:
        while time.perf_counter() < until:
            method, path, body = picker(rng)
            if conn.sock is None:  # http.client (re)connects lazily: count it
                tally.connects += 1
            started = time.perf_counter()
            try:
                status, _ = exchange(conn, target, method, path, body)
            except (OSError, http.client.HTTPException) as exc:
                tally.errors[type(exc).__name__] += 1
                conn.close()
                time.sleep(ERROR_BACKOFF_S)
                continue
            tally.latencies.append(time.perf_counter() - started)
            tally.statuses[status] += 1
    finally:
        conn.close()


def run_threads(jobs: Iterable[Callable[[], None]], join_by: float) -> int:
    """Run each job in its own daemon thread, wait until `join_by`; return how many still run."""
    threads = [threading.Thread(target=job, daemon=True) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(0.0, join_by - time.perf_counter()))
    return sum(thread.is_alive() for thread in threads)


def percentile_ms(ordered: list[float], pct: float) -> float | None:
    """Return the nearest-rank percentile of sorted seconds, in milliseconds."""
    if not ordered:
        return None
    rank = max(1, -(-len(ordered) * pct // 100))  # ceil without floats drifting
    return round(ordered[int(rank) - 1] * 1000, 3)


def measure(
    target: Target, picker: Picker, connections: int, duration: float
) -> tuple[Tally, float, float, int]:
    """Run closed loops for `duration` s; return tally, wall s, client CPU % and stuck threads."""
    tallies = [Tally() for _ in range(connections)]
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    until = started + duration
    jobs = [
        (lambda t=t, i=i: drive(target, picker, until, t, seed=i * 7919 + int(started)))
        for i, t in enumerate(tallies)
    ]
    stuck = run_threads(jobs, join_by=until + target.timeout + 1.0)
    elapsed = time.perf_counter() - started
    cpu_pct = 100.0 * (_cpu_seconds() - cpu_before) / elapsed
    total = Tally()
    for tally in tallies:
        total.absorb(tally)
    return total, elapsed, cpu_pct, stuck


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


# --- the data the workloads use ----------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    """Paths of the seeded tasks, of their owners' lists, and of the write-only users' lists."""

    tasks: list[str]
    lists: list[str]
    creates: list[str]


def seed_body(user: str, index: int) -> bytes:
    """Return the JSON body of seeded task `index` of `user`; every third one is completed."""
    task = {"title": f"task {index} of {user}", "description": "seeded by bench/loadtest.py"}
    if index % 3 == 0:
        task["completed"] = True
    return json.dumps(task).encode()


def seed_worker(
    target: Target, items: list[tuple[str, int]], until: float, found: list[str], tally: Tally
) -> None:
    """Create the given (user, index) tasks on one connection, appending each new task's path."""
    conn = target.connection()
    try:
        for user, index in items:
            if time.perf_counter() >= until:
                return
            collection = target.path(f"/api/{user}/tasks")
            try:
                status, data = exchange(conn, target, "POST", collection, seed_body(user, index))
            except (OSError, http.client.HTTPException) as exc:
                tally.errors[type(exc).__name__] += 1
                conn.close()
                continue
            tally.statuses[status] += 1
            task_id = _task_id(data) if status == 201 else None
            if task_id is None:
                continue
            found.append(f"{collection}/{task_id}")
    finally:
        conn.close()


def _task_id(data: bytes) -> str | None:
    try:
        value = json.loads(data)["id"]
    except (ValueError, KeyError, TypeError):
        return None
    return value if isinstance(value, str) else None


def seed(
    target: Target, prefix: str, users: int, per_user: int, connections: int, until: float
) -> tuple[Dataset, Line]:
    """Create users x per_user tasks through the API; return the dataset and a seed line."""
    names = [f"{prefix}-u{i}" for i in range(users)]
    items = [(user, index) for user in names for index in range(per_user)]
    found: list[str] = []  # list.append is atomic under the GIL
    tallies = [Tally() for _ in range(connections)]
    started = time.perf_counter()
    jobs = [
        (lambda c=items[i::connections], t=tallies[i]: seed_worker(target, c, until, found, t))
        for i in range(connections)
    ]
    run_threads(jobs, join_by=until + target.timeout + 1.0)
    elapsed = time.perf_counter() - started
    total = Tally()
    for tally in tallies:
        total.absorb(tally)
    owners = sorted({path.rsplit("/", 1)[0] for path in found})
    dataset = Dataset(
        tasks=sorted(found),
        lists=owners,
        # Creates go to users of their own, so the seeded users' lists keep their length.
        creates=[target.path(f"/api/{prefix}-w{i}/tasks") for i in range(users)],
    )
    line = {
        "kind": "seed",
        "users": users,
        "tasks_per_user": per_user,
        "requested": len(items),
        "created": len(found),
        "failed": len(items) - len(found),
        "statuses": _keys_as_text(total.statuses),
        "errors": sum(total.errors.values()),
        "seconds": round(elapsed, 3),
        "rps": round(len(found) / elapsed, 1) if elapsed else None,
        "connections": connections,
    }
    return dataset, line


def pickers(data: Dataset) -> dict[str, Picker]:
    """Return, per workload, a function that picks that workload's next request."""

    def get(rng: random.Random) -> Request:
        return "GET", rng.choice(data.tasks), None

    def listing(rng: random.Random) -> Request:
        return "GET", rng.choice(data.lists), None

    def toggle(rng: random.Random) -> Request:
        return "PATCH", rng.choice(data.tasks) + "/complete", None

    def create(rng: random.Random) -> Request:
        return "POST", rng.choice(data.creates), CREATE_BODY

    def filtered(rng: random.Random) -> Request:
        return "GET", f"{rng.choice(data.lists)}?{FILTER_QUERY}", None

    single = {"get": get, "list": listing, "toggle": toggle, "create": create, "filter": filtered}
    names, weights = list(MIXED_WEIGHTS), list(MIXED_WEIGHTS.values())

    def mixed(rng: random.Random) -> Request:
        return single[rng.choices(names, weights)[0]](rng)

    return {**single, "mixed": mixed}


# --- checks before and around the load ---------------------------------------------------------


def preflight(target: Target, prefix: str) -> str | None:
    """Check that create, get, list and toggle answer as the contract says; return Server header."""
    conn = target.connection()
    collection = target.path(f"/api/{prefix}-preflight/tasks")
    try:
        status, data = exchange(conn, target, "POST", collection, CREATE_BODY)
        _expect("POST", collection, status, 201, data)
        task_id = _task_id(data)
        if task_id is None:
            raise SystemExit(f"loadtest: POST {collection} answered 201 without a task id")
        item = f"{collection}/{task_id}"
        for method, path in (("GET", item), ("GET", collection), ("PATCH", f"{item}/complete")):
            status, data = exchange(conn, target, method, path, None)
            _expect(method, path, status, 200, data)
        conn.request("GET", target.path("/livez"), headers={"Host": target.host_header})
        resp = conn.getresponse()
        resp.read()
        return resp.getheader("Server")
    except (OSError, http.client.HTTPException) as exc:
        raise SystemExit(f"loadtest: pre-flight failed, is the service up? {exc!r}") from None
    finally:
        conn.close()


def _expect(method: str, path: str, status: int, wanted: int, data: bytes) -> None:
    if status != wanted:
        raise SystemExit(
            f"loadtest: pre-flight {method} {path} answered {status}, expected {wanted}: "
            f"{data[:200]!r}"
        )


def check_filter(target: Target, data: Dataset) -> str:
    """Tell whether the server applies ?status=pending: applied, ignored, rejected or unknown."""
    conn = target.connection()
    try:
        status, body = exchange(conn, target, "GET", f"{data.lists[0]}?{FILTER_QUERY}", None)
    except (OSError, http.client.HTTPException):
        return "unknown"
    finally:
        conn.close()
    if status != 200:
        return f"rejected ({status})"
    try:
        tasks = json.loads(body)
        completed = [t for t in tasks if t.get("completed") is True]
    except (ValueError, AttributeError, TypeError):
        return "unknown"
    return "ignored (completed tasks listed)" if completed else "applied"


# --- one workload ------------------------------------------------------------------------------


def workload_line(
    name: str, connections: int, started_at: str, result: tuple[Tally, float, float, int]
) -> Line:
    """Summarise one measured workload as a JSON line."""
    tally, elapsed, cpu_pct, stuck = result
    ordered = sorted(tally.latencies)
    requests = len(ordered)
    non_2xx = sum(n for status, n in tally.statuses.items() if not 200 <= status < 300)
    return {
        "kind": "workload",
        "workload": name,
        "connections": connections,
        "duration_s": round(elapsed, 3),
        "requests": requests,
        "rps": round(requests / elapsed, 1) if elapsed else None,
        "p50_ms": percentile_ms(ordered, 50),
        "p95_ms": percentile_ms(ordered, 95),
        "p99_ms": percentile_ms(ordered, 99),
        "max_ms": round(ordered[-1] * 1000, 3) if ordered else None,
        "non_2xx": non_2xx,
        "errors": sum(tally.errors.values()),
        "statuses": _keys_as_text(tally.statuses),
        "error_types": dict(tally.errors),
        "connects": tally.connects,
        "client_cpu_pct": round(cpu_pct, 1),
        "stuck_threads": stuck,
        "started_at": started_at,
    }


def _keys_as_text(counts: Counter) -> dict[str, int]:
    return {str(key): counts[key] for key in sorted(counts)}


def utc_now() -> str:
    """Return the current UTC time as an RFC 3339 string with a Z suffix."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- the run -----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse and sanity-check the command line."""
    parser = argparse.ArgumentParser(
        description="Seed a Tasks service through its API, then run bounded closed-loop workloads.",
        epilog="Targets only 127.0.0.0/8 and ::1 unless --allow-remote. See bench/README.md.",
    )
    parser.add_argument("base_url", help="e.g. http://127.0.0.1:8000 (a path prefix is kept)")
    parser.add_argument("--out", type=Path, help="JSONL file to append to (default bench/out/...)")
    parser.add_argument("--label", help="name of this target in every line (default host:port)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per workload (5)")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections (16)")
    parser.add_argument(
        "--workloads",
        default=DEFAULT_WORKLOADS,
        help=f"comma list from {','.join(WORKLOADS)} (default {DEFAULT_WORKLOADS})",
    )
    parser.add_argument("--users", type=int, default=20, help="seeded users (20)")
    parser.add_argument("--tasks-per-user", type=int, default=20, help="seeded tasks each (20)")
    parser.add_argument("--seed-connections", type=int, default=4, help="connections seeding (4)")
    parser.add_argument("--warmup", type=float, default=1.0, help="unrecorded get-one seconds (1)")
    parser.add_argument("--timeout", type=float, default=5.0, help="socket timeout, seconds (5)")
    parser.add_argument(
        "--max-total", type=float, default=300.0, help="hard cap on the whole run, seconds (300)"
    )
    parser.add_argument(
        "--allow-remote", action="store_true", help="allow a target that is not loopback"
    )
    args = parser.parse_args(argv)
    args.workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    _validate(parser, args)
    return args


def _validate(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    unknown = [w for w in args.workloads if w not in WORKLOADS]
    if unknown or not args.workloads:
        parser.error(f"--workloads: unknown {unknown}; choose from {', '.join(WORKLOADS)}")
    if not 1 <= args.connections <= MAX_CONNECTIONS:
        parser.error(f"--connections must be 1-{MAX_CONNECTIONS}")
    if args.duration <= 0 or args.warmup < 0 or args.timeout <= 0:
        parser.error("--duration and --timeout must be positive, --warmup not negative")
    if args.users < 1 or args.tasks_per_user < 1 or args.seed_connections < 1:
        parser.error("--users, --tasks-per-user and --seed-connections must be at least 1")
    planned = args.warmup + len(args.workloads) * (args.duration + PAUSE_S)
    if planned > args.max_total:
        parser.error(
            f"the workloads alone take {planned:.0f} s, over --max-total {args.max_total:.0f} s"
        )


def default_out(label: str) -> Path:
    """Return bench/out/<label>-<UTC time>.jsonl next to this script."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in label)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return Path(__file__).resolve().parent / "out" / f"{safe}-{stamp}.jsonl"


def meta_line(args: argparse.Namespace, target: Target, prefix: str, server: str | None) -> Line:
    """Describe the run, the client machine and the target."""
    return {
        "kind": "meta",
        "base_url": args.base_url,
        "connect_to": f"{target.connect_host}:{target.port}",
        "started_at": utc_now(),
        "client": CLIENT,
        "python": platform.python_version(),
        "host": platform.node(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg_1m_before": round(os.getloadavg()[0], 2),
        "server_header": server,
        "duration_s": args.duration,
        "connections": args.connections,
        "workloads": args.workloads,
        "users": args.users,
        "tasks_per_user": args.tasks_per_user,
        "user_prefix": prefix,
        "warmup_s": args.warmup,
        "timeout_s": args.timeout,
        "max_total_s": args.max_total,
    }


class Recorder:
    """Append labelled JSON lines to the output file as they come, flushing each one."""

    def __init__(self, out: TextIO, label: str) -> None:
        self._out = out
        self.label = label
        self.workloads: list[Line] = []

    def write(self, line: Line) -> None:
        """Write one line, with the label right after its kind."""
        labelled = {"kind": line["kind"], "label": self.label, **line}
        self._out.write(json.dumps(labelled) + "\n")
        self._out.flush()
        if line["kind"] == "workload":
            self.workloads.append(labelled)


def run_workloads(
    args: argparse.Namespace, target: Target, data: Dataset, deadline: float, rec: Recorder
) -> list[str]:
    """Run each requested workload in turn, recording each; return those skipped for time."""
    choose = pickers(data)
    if args.warmup:
        measure(target, choose["get"], args.connections, args.warmup)
    skipped = []
    for name in args.workloads:
        time.sleep(PAUSE_S)
        if time.perf_counter() + args.duration > deadline:
            skipped.append(name)
            continue
        note = check_filter(target, data) if name == "filter" else None
        started_at = utc_now()
        result = measure(target, choose[name], args.connections, args.duration)
        line = workload_line(name, args.connections, started_at, result)
        if note:
            line["filter_check"] = note
        rec.write(line)
        _progress(line)
    return skipped


def _progress(line: Line) -> None:
    rps, p99 = line["rps"] or 0.0, line["p99_ms"] or 0.0
    text = f"  {line['workload']:<7} {rps:>9.1f} req/s  p99 {p99:>8.1f} ms"
    if line["errors"] or line["non_2xx"]:
        text += f"  non-2xx {line['non_2xx']}  errors {line['errors']}"
    if line["client_cpu_pct"] >= CLIENT_BUSY_PCT:
        text += f"  (client at {line['client_cpu_pct']:.0f}% CPU: it may be the bottleneck)"
    print(text, file=sys.stderr, flush=True)


def format_table(lines: list[Line]) -> str:
    """Return the workload lines as a plain-text table."""
    head = (
        "label",
        "workload",
        "conns",
        "req/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
        "non-2xx",
        "errors",
    )
    rows = [head] + [
        (
            str(d["label"]),
            str(d["workload"]),
            str(d["connections"]),
            _num(d["rps"], 1),
            _num(d["p50_ms"], 2),
            _num(d["p95_ms"], 2),
            _num(d["p99_ms"], 2),
            _num(d["max_ms"], 2),
            str(d["non_2xx"]),
            str(d["errors"]),
        )
        for d in lines
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    return "\n".join(
        "  ".join(
            cell.ljust(w) if i < 2 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    )


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    """Run the whole load test; return the exit status."""
    args = parse_args(argv)
    begun = time.perf_counter()
    deadline = begun + args.max_total
    target = make_target(args.base_url, args.allow_remote, args.timeout)
    label = args.label or target.host_header
    prefix = f"lt-{datetime.now(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(3)}"
    server = preflight(target, prefix)
    out_path = args.out or default_out(label)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with out_path.open("a", encoding="utf-8") as out:
        rec = Recorder(out, label)
        rec.write(meta_line(args, target, prefix, server))
        print(f"loadtest: seeding {args.users} x {args.tasks_per_user} tasks", file=sys.stderr)
        seed_until = deadline - len(args.workloads) * (args.duration + PAUSE_S) - args.warmup
        data, seed_line = seed(
            target, prefix, args.users, args.tasks_per_user, args.seed_connections, seed_until
        )
        rec.write(seed_line)
        if not data.tasks:
            print(
                f"loadtest: seeding created no task (too short a --max-total?): {seed_line}",
                file=sys.stderr,
            )
            return 1
        skipped = run_workloads(args, target, data, deadline, rec)
        rec.write(
            {"kind": "end", "elapsed_s": round(time.perf_counter() - begun, 3), "skipped": skipped}
        )
    print(format_table(rec.workloads))
    print(f"\nresults appended to {out_path}")
    if skipped:
        print(f"loadtest: skipped for --max-total: {', '.join(skipped)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
