"""The chart and table of docs/benchmarks.md, from a run's results.

    venv/bin/python -m benchmarks.chart [RESULTS_JSON] [--png docs/benchmarks.png]

One panel per client: for each op the median seconds of ours and of the raw
floor at the largest count, and ours and the comparator's at its count (20)
(marked "wrong" where its Response was), on a log scale. Prints the Markdown tables the page shows.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import msgspec

from .__main__ import RESULTS, Results, op_limit
from .many import cpu_summary
from .ops import OPS

PNG = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.png"


def table(results: Results) -> str:
    lines = [
        "| client | op | N | ours (median) | floor (median) | ratio | limit | peak MiB |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for times in results.ops:
        ours, floor = statistics.median(times.ours), statistics.median(times.floor)
        mark = "" if ours <= op_limit(times) else " **over**"
        peak = f"{times.peak_mib:.1f}" if times.peak_mib is not None else "–"
        lines.append(
            f"| {times.target} | {times.op} | {times.count:,} | {ours:.3f} s{mark} | {floor:.3f} s"
            f" | {ours / floor:.2f} | {op_limit(times):.3f} s | {peak} |"
        )
    if results.comparisons:
        lines += [
            "",
            "| client | op | N | ours | aiobtclientapi 1.1.4 |",
            "|---|---|---:|---:|---|",
        ]
        for c in results.comparisons:
            theirs = f"{c.theirs:.3f} s" if c.theirs is not None else f"wrong: {c.wrong}"
            lines.append(f"| {c.target} | {c.op} | {c.count} | {c.ours:.3f} s | {theirs} |")
    if results.judged:
        lines += ["", "| client | figure | value | limit | what |", "|---|---|---:|---:|---|"]
        for j in results.judged:
            mark = "" if j.value <= j.limit else " **over**"
            lines.append(f"| {j.target} | {j.what} | {j.value:,.3f}{mark} | {j.limit:,.3f} | {j.note} |")
    if results.many is not None:
        many = results.many
        lines += [
            "",
            f"{many.objects} API objects in one event loop, {many.torrents_each} torrents each:",
            "",
            "| phase | seconds | CPU seconds used meanwhile |",
            "|---|---:|---|",
        ]
        for phase, seconds in [*many.alone.items(), ("all together", many.together)]:
            cpu = cpu_summary(many, "together" if phase == "all together" else phase).removeprefix("CPU: ")
            lines.append(f"| {phase} | {seconds:.2f} | {cpu} |")
    return "\n".join(lines)


def chart(results: Results, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    clients = list(dict.fromkeys(t.client for t in results.ops))
    largest = max(t.count for t in results.ops)
    figure, axes = plt.subplots(1, len(clients), figsize=(4.2 * len(clients), 4.2), sharey=True, squeeze=False)
    width = 0.2
    for axis, client in zip(axes[0], clients, strict=True):
        rows = {t.op: t for t in results.ops if t.client == client and t.count == largest}
        compared = {c.op: c for c in results.comparisons if c.client == client}
        compared_count = next(iter(compared.values())).count if compared else 0
        ops = [op for op in OPS if op in rows]
        bars = [
            (f"ours, {largest:,}", [statistics.median(rows[o].ours) for o in ops]),
            (f"raw floor, {largest:,}", [statistics.median(rows[o].floor) for o in ops]),
            (f"ours, {compared_count}", [compared[o].ours if o in compared else 0.0 for o in ops]),
            (f"1.1.4, {compared_count}", [(compared[o].theirs or 0.0) if o in compared else 0.0 for o in ops]),
        ]
        for index, (label, values) in enumerate(bars):
            offset = (index - 1.5) * width
            axis.bar([p + offset for p in range(len(ops))], values, width, label=label)
        for position, op in enumerate(ops):
            if op in compared and compared[op].wrong:
                axis.annotate(
                    "wrong",
                    (position + 1.5 * width, 0),
                    xycoords=("data", "axes fraction"),
                    rotation=90,
                    ha="center",
                    va="bottom",
                    fontsize="x-small",
                )
        axis.set_yscale("log")
        axis.set_xticks(list(range(len(ops))), ops, rotation=30, ha="right")
        axis.set_title(f"{client}, {largest:,} torrents")
    axes[0][0].set_ylabel("seconds (log scale)")
    axes[0][-1].legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    figure.suptitle(f"{results.machine} — {results.started}", fontsize="small")
    figure.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(png, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.chart")
    parser.add_argument("results", nargs="?", type=Path, default=RESULTS)
    parser.add_argument("--png", type=Path, default=PNG)
    options = parser.parse_args(argv)
    results = msgspec.json.decode(options.results.read_bytes(), type=Results)
    chart(results, options.png)
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
