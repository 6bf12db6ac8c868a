"""Draws the comparison's figures (compare.json) as PNG files.

One figure per workload: the time a caller waits per op and the ops per
second over all callers, for 1, 8 and 64 callers, each way side by side,
on a log scale (the three ways are orders of magnitude apart). Plus an
overview of every workload at 1 caller, and, when given, how the agent's
cost grows with its instances.

Run as: python plot.py COMPARE_JSON OUT_DIR [SCALING_JSON]
"""

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

WAYS = [
    ("go", "Go function", "#4c72b0"),
    ("pyhost", "pyhost (embedded Python)", "#55a868"),
    ("rpc", "Python worker over RPC", "#c44e52"),
]


def scaled(ns: float) -> str:
    for unit, size in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= size:
            return f"{ns / size:.3g} {unit}"
    return f"{ns:.3g} ns"


def bars(ax, groups, values_by_way, ylabel, title):
    width = 0.8 / len(WAYS)
    for k, (way, label, colour) in enumerate(WAYS):
        xs = [i + (k - 1) * width for i in range(len(groups))]
        vs = values_by_way[way]
        ax.bar(xs, vs, width, label=label, color=colour)
        for x, v in zip(xs, vs):
            if v > 0:
                ax.annotate(
                    scaled(v) if "time" in ylabel else f"{v:.3g}",
                    (x, v),
                    ha="center",
                    va="bottom",
                    fontsize=6,
                    rotation=90,
                    xytext=(0, 2),
                    textcoords="offset points",
                )
    ax.set_xticks(range(len(groups)), groups)
    ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.margins(y=0.25)


def workload_figure(report, workload, out: Path) -> None:
    samples = [s for s in report["samples"] if s["workload"] == workload["name"]]
    callers = sorted({s["callers"] for s in samples})

    def values(field, transform):
        return {
            way: [
                transform(
                    next((s[field] for s in samples if s["way"] == way and s["callers"] == c), 0)
                )
                for c in callers
            ]
            for way, _, _ in WAYS
        }

    groups = [f"{c} caller{'s' if c > 1 else ''}" for c in callers]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    bars(
        left,
        groups,
        values("latency_ns", lambda v: v),
        f"time a caller waits per {workload['unit']} (ns, log)",
        "Latency",
    )
    bars(
        right,
        groups,
        values("ns_per_op", lambda v: 1e9 / v if v else 0),
        f"{workload['unit']}s per second, all callers (log)",
        "Throughput",
    )
    left.legend(fontsize=7, loc="upper left")
    fig.suptitle(workload["title"], fontsize=11)
    fig.tight_layout()
    fig.savefig(out / f"{workload['name']}.png", dpi=110)
    plt.close(fig)


def overview_figure(report, out: Path) -> None:
    names = [w["name"] for w in report["workloads"]]
    by_way = {way: [] for way, _, _ in WAYS}
    for name in names:
        for way, _, _ in WAYS:
            by_way[way].append(
                next(
                    (
                        s["latency_ns"]
                        for s in report["samples"]
                        if s["workload"] == name and s["way"] == way and s["callers"] == 1
                    ),
                    0,
                )
            )
    fig, ax = plt.subplots(figsize=(11, 4.5))
    bars(ax, names, by_way, "time per op, 1 caller (ns, log)", "Every workload, 1 caller")
    ax.legend(fontsize=8, loc="upper left")
    m = report["machine"]
    fig.suptitle(
        f"{m['cores']} cores, {m['cpu']}; Python {m['python']}, {m['go']}, {m['rust']}", fontsize=8
    )
    fig.tight_layout()
    fig.savefig(out / "overview.png", dpi=110)
    plt.close(fig)


def scaling_figure(scaling, out: Path) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for series, marker in (("fixed_interval", "o"), ("fixed_rate", "s")):
        points = [p for p in scaling["points"] if p["series"] == series]
        if not points:
            continue
        label = {
            "fixed_interval": "every instance at the same interval",
            "fixed_rate": "intervals chosen for ~1,000 runs/s",
        }[series]
        xs = [p["runs_per_second"] for p in points]
        ys = [100 * p["overhead_share_of_a_core"] for p in points]
        left.plot(xs, ys, marker=marker, label=label)
        for p, x, y in zip(points, xs, ys):
            left.annotate(
                f"{p['instances']:,}",
                (x, y),
                fontsize=6,
                xytext=(4, -8),
                textcoords="offset points",
            )
        grown = [p for p in points if p["rss_per_instance_bytes"] > 0]  # not the first
        right.plot(
            [p["instances"] for p in grown],
            [p["rss_per_instance_bytes"] / 1024 for p in grown],
            marker=marker,
            label=label,
        )
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel("check runs per second")
    left.set_ylabel("agent CPU beyond the checks (% of one core, log)")
    left.set_title("Overhead against work (log-log: linear is a slope of 1)", fontsize=9)
    right.set_xscale("log")
    right.set_xlabel("instances")
    right.set_ylabel("resident memory per instance added (KiB)")
    right.axhline(4, color="grey", linestyle="--", linewidth=0.8)
    right.set_title("Memory per instance", fontsize=9)
    for ax in (left, right):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("How the agent's cost grows with its instances", fontsize=11)
    fig.tight_layout()
    fig.savefig(out / "agent-scaling.png", dpi=110)
    plt.close(fig)


def main() -> None:
    report = json.loads(Path(sys.argv[1]).read_text())
    out = Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    for workload in report["workloads"]:
        workload_figure(report, workload, out)
    overview_figure(report, out)
    if len(sys.argv) > 3 and Path(sys.argv[3]).exists():
        scaling_figure(json.loads(Path(sys.argv[3]).read_text()), out)


if __name__ == "__main__":
    main()
