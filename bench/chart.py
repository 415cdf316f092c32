#!/usr/bin/env python3
"""Chart load-test results: req/s and p99 latency per workload, one bar per label.

    python bench/chart.py bench/out/*.jsonl -o bench/chart.png
    python bench/chart.py /tmp/perf-1/results.jsonl bench/out/run.jsonl -o bench/compare.png \\
        --labels project,peer,falcon_db_min

Reads the JSONL of bench/loadtest.py ("kind": "workload" lines) and of the shared perf kit
(compare.sh's OUTDIR/results.jsonl and run.sh/all.sh output: wrk lines with "target",
"workload", "rps" and "lat_p99_ms"). Meta, seed, ratio, error, end and pgbench lines are
skipped: pgbench counts SQL transactions, not HTTP requests. A label found in more than one
file gets the file's name appended, so two runs of the same target stay apart. Bars of runs
that had non-2xx answers or transport errors are hatched and marked "!".
Needs matplotlib (requirements-dev.txt).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

# Workloads in the order both tools run them; anything else follows, sorted.
WORKLOAD_ORDER = ("get", "list", "toggle", "create", "mixed", "filter", "get1000")
SOCKET_ERRORS = ("err_connect", "err_read", "err_write", "err_timeout")


@dataclass(frozen=True)
class Run:
    """One measured workload of one target, from either tool."""

    label: str
    workload: str
    rps: float
    p99_ms: float | None
    connections: int | None
    flagged: bool
    source: str


def parse_line(d: dict[str, Any], source: str) -> Run | None:
    """Turn one JSON object into a Run, or None when it is not a workload measurement."""
    if d.get("kind") == "workload":  # bench/loadtest.py
        flagged = bool(d.get("non_2xx") or d.get("errors"))
        return Run(
            d["label"],
            d["workload"],
            d["rps"],
            d.get("p99_ms"),
            d.get("connections"),
            flagged,
            source,
        )
    if "kind" not in d and "target" in d and "lat_p99_ms" in d:  # perf kit: one wrk run
        flagged = bool(d.get("non2xx") or sum(d.get(k) or 0 for k in SOCKET_ERRORS))
        return Run(
            d["target"],
            d["workload"],
            d["rps"],
            d["lat_p99_ms"],
            d.get("connections"),
            flagged,
            source,
        )
    return None


def source_names(paths: list[Path]) -> dict[Path, str]:
    """Name each file by its stem, or by folder/stem where stems repeat (results.jsonl)."""
    stems = Counter(p.stem for p in paths)
    return {p: p.stem if stems[p.stem] == 1 else f"{p.parent.name}/{p.stem}" for p in paths}


def read_runs(path: Path, source: str) -> list[Run]:
    """Return the workload runs in one JSONL file, skipping comments and other lines."""
    runs = []
    with path.open(encoding="utf-8") as lines:
        for number, raw in enumerate(lines, 1):
            text = raw.strip()
            if not text or text.startswith("#"):  # all.sh writes "# split=..." headers
                continue
            try:
                run = parse_line(json.loads(text), source)
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                print(f"chart: {path}:{number}: skipped ({exc!r})", file=sys.stderr)
                continue
            if run is not None:
                runs.append(run)
    return runs


def disambiguate(runs: list[Run]) -> list[Run]:
    """Append the source to labels that come from more than one file."""
    sources: dict[str, set[str]] = {}
    for run in runs:
        sources.setdefault(run.label, set()).add(run.source)
    return [
        replace(run, label=f"{run.label} [{run.source}]") if len(sources[run.label]) > 1 else run
        for run in runs
    ]


def index_runs(runs: Iterable[Run]) -> dict[tuple[str, str], Run]:
    """Key runs by (label, workload); a later duplicate replaces an earlier one, with a note."""
    table: dict[tuple[str, str], Run] = {}
    for run in runs:
        key = (run.label, run.workload)
        if key in table:
            print(
                f"chart: {run.label} {run.workload}: later line of {run.source} wins",
                file=sys.stderr,
            )
        table[key] = run
    return table


def ordered_workloads(keys: Iterable[tuple[str, str]]) -> list[str]:
    """Return the workloads present, in the tools' order, unknown ones last."""
    present = {workload for _, workload in keys}
    known = [w for w in WORKLOAD_ORDER if w in present]
    return known + sorted(present - set(WORKLOAD_ORDER))


def ordered_labels(keys: Iterable[tuple[str, str]], wanted: list[str] | None) -> list[str]:
    """Return the labels to draw: `wanted` in its order (if given), else all in first-seen order."""
    present = list(dict.fromkeys(label for label, _ in keys))
    if not wanted:
        return present
    missing = [w for w in wanted if w not in present]
    if missing:
        print(f"chart: no data for labels {missing}; have {present}", file=sys.stderr)
    return [w for w in wanted if w in present]


def draw_metric(ax: Any, table: dict, labels: list[str], workloads: list[str], metric: str) -> None:
    """Draw grouped bars of one metric ("rps" or "p99_ms") on `ax`."""
    width = 0.8 / len(labels)
    for i, label in enumerate(labels):
        runs = [table.get((label, w)) for w in workloads]
        points = [
            (x, r) for x, r in enumerate(runs) if r is not None and getattr(r, metric) is not None
        ]
        if not points:
            continue
        xs = [x + (i - (len(labels) - 1) / 2) * width for x, _ in points]
        values = [getattr(r, metric) for _, r in points]
        bars = ax.bar(xs, values, width, label=label)
        for bar, (_, run) in zip(bars, points, strict=True):
            if run.flagged:
                bar.set_hatch("//")
        texts = [f"{v:,.0f}" if metric == "rps" else f"{v:,.1f}" for v in values]
        texts = [t + ("!" if r.flagged else "") for t, (_, r) in zip(texts, points, strict=True)]
        ax.bar_label(bars, texts, fontsize=7, rotation=90 if len(labels) > 3 else 0, padding=2)
    ax.set_xticks(range(len(workloads)), workloads)
    ax.margins(y=0.15)
    ax.grid(axis="y", alpha=0.3)


def connections_note(table: dict[tuple[str, str], Run], workloads: list[str]) -> str:
    """Return 'workload: N conns' for each workload, the way the runs were made."""
    parts = []
    for w in workloads:
        conns = sorted({r.connections for (_, wl), r in table.items() if wl == w and r.connections})
        parts.append(f"{w}: {'/'.join(map(str, conns)) or '?'}")
    return "connections per workload - " + ", ".join(parts)


def render(table: dict, labels: list[str], out: Path, title: str, log_p99: bool) -> None:
    """Write the two-panel chart (req/s above, p99 below) to `out` as PNG."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    table = {key: run for key, run in table.items() if key[0] in labels}
    workloads = ordered_workloads(table)
    width = max(9.0, 3.0 + len(workloads) * (0.5 + 0.35 * len(labels)))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(width, 8.5), constrained_layout=True)
    draw_metric(top, table, labels, workloads, "rps")
    top.set_ylabel("requests/s (higher is better)")
    top.set_title(title)
    fig.legend(*top.get_legend_handles_labels(), loc="outside right upper", fontsize=8)
    draw_metric(bottom, table, labels, workloads, "p99_ms")
    bottom.set_ylabel("p99 latency, ms (lower is better)")
    if log_p99:
        bottom.set_yscale("log")
    bottom.set_xlabel(
        connections_note(table, workloads) + "\nclosed loop; '!' and hatching: non-2xx answers "
        "or transport errors; compare runs from one machine and one sitting only",
        fontsize=8,
    )
    fig.savefig(out, dpi=120)
    plt.close(fig)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description="Chart loadtest.py and perf-kit JSONL files.")
    parser.add_argument("files", nargs="+", type=Path, help="JSONL files")
    parser.add_argument("-o", "--output", type=Path, default=Path("bench/chart.png"))
    parser.add_argument("--labels", help="comma list of labels to draw, in this order")
    parser.add_argument("--title", default="Tasks service load test")
    parser.add_argument("--log-p99", action="store_true", help="log scale for the p99 panel")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Read the files, draw the chart, return the exit status."""
    args = parse_args(argv)
    names = source_names(args.files)
    runs = [run for path in args.files for run in read_runs(path, names[path])]
    table = index_runs(disambiguate(runs))
    wanted = [w.strip() for w in args.labels.split(",")] if args.labels else None
    labels = ordered_labels(table, wanted)
    if not labels:
        print("chart: no workload lines found in the given files", file=sys.stderr)
        return 1
    args.output.parent.mkdir(parents=True, exist_ok=True)
    render(table, labels, args.output, args.title, args.log_p99)
    print(f"chart: {len(labels)} labels, {len(table)} runs -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
