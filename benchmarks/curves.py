"""Curves: query latency vs range (1 h .. 365 d) for raw, 1 h and 1 d, and vs points (1, 10,
100) for 30 d at 1 h — ours and every peer, each answer compared for content. Printed, and
plotted to benchmarks/out/*.png (matplotlib, from the `bench` extra)."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

from compare import ContentMismatch, compare
from peers.source import Query
from timing import median_ms

OUT = Path(__file__).resolve().parent / "out"
RANGES = [("1 h", timedelta(hours=1)), ("1 d", timedelta(days=1)), ("7 d", timedelta(days=7)),
          ("30 d", timedelta(days=30)), ("365 d", timedelta(days=365))]
POINT_COUNTS = (1, 10, 100)


def run_curves(engine, year, p, peers, work: Path, runs: int = 5) -> list[str]:
    from year_data import SITE

    def ours(q):
        return engine.query(SITE, list(q.points), q.start, q.end, interval=q.interval, agg="avg").table

    failures: list[str] = []
    who = ["ours"] + [x.name for x in peers]
    end = p["end"]

    def measure(q: Query) -> dict[str, float]:
        row = {}
        row["ours"], mine = median_ms(lambda: ours(q), runs)
        for peer in peers:
            n = 1 if peer.name == "original layout" else runs
            row[peer.name], raw = median_ms(lambda: peer.run(q), n)
            try:
                compare(q.name, peer.name, mine, peer.table(raw), peer.ts_precision_us)
            except ContentMismatch as exc:
                failures.append(str(exc))
        return row

    by_range: dict[str, list[dict]] = {}
    print("\ncurve: latency (ms, median) vs range, 1 point" + "".join(f"{w[:18]:>20}" for w in who))
    for interval in ("raw", "1h", "1d"):
        by_range[interval] = []
        for label, span in RANGES:
            row = measure(Query(f"range {label} {interval}", (p["c_point"],), end - span, end, interval))
            by_range[interval].append(row)
            print(f"  {interval:>4} {label:>6}" + "".join(f"{row[w]:>20.2f}" for w in who), flush=True)
    by_points = []
    print("\ncurve: latency (ms, median) vs points, 30 d at 1 h" + "".join(f"{w[:18]:>20}" for w in who))
    for n in POINT_COUNTS:
        row = measure(Query(f"{n} points 30 d 1h", tuple(p["curve_points"][:n]), end - timedelta(days=30), end, "1h"))
        by_points.append(row)
        print(f"  {n:>4} points" + "".join(f"{row[w]:>20.2f}" for w in who), flush=True)
    plot(by_range, by_points, who, len(year.days))
    return failures


def plot(by_range, by_points, who, n_days: int) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: pip install -e '.[dev,bench]' -c deploy/constraints.txt; curves printed only")
        return
    OUT.mkdir(exist_ok=True)
    fig, axes = plt.subplots(1, 4, figsize=(20, 4.5))
    x = [label for label, _ in RANGES]
    for ax, interval in zip(axes, ("raw", "1h", "1d")):
        for w in who:
            ax.plot(x, [r[w] for r in by_range[interval]], marker="o", label=w)
        ax.set_yscale("log")
        ax.set_title(f"1 point, {interval}: latency vs range")
        ax.set_xlabel("range")
        ax.set_ylabel("ms (median)")
        ax.grid(True, which="both", alpha=0.3)
    ax = axes[3]
    for w in who:
        ax.plot([str(n) for n in POINT_COUNTS], [r[w] for r in by_points], marker="o", label=w)
    ax.set_yscale("log")
    ax.set_title("30 d at 1 h: latency vs points")
    ax.set_xlabel("points")
    ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Building Vitals query latency vs peers — reference site, {n_days} days")
    fig.tight_layout()
    path = OUT / "query_curves.png"
    fig.savefig(path, dpi=90)
    print(f"curves plotted: {path}")
    shutil.copyfile(path, Path(__file__).resolve().parent / "query_curves.png")
