#!/usr/bin/env python3
"""Summarise scripts/bench's raw CSV: per metric, the median of each kernel,
the patched/baseline ratio, its min-max spread over boot pairs, a verdict
against the goal; write the table and a plot.

    report.py RAW_CSV OUT_DIR
"""
import csv
import statistics
import sys
from collections import defaultdict

# metric -> the largest patched/baseline ratio the series may cost.
GOALS = {
    "fork_exit_wait": 1.005,
    "vfork_exit_wait": 1.005,
    "thread_create_join": 1.005,
    "exec_exit_wait": 1.005,
    "status_read": 1.02,
}


def main(raw, out):
    # values[metric][kernel][boot] = list of samples
    values = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for row in csv.DictReader(open(raw)):
        values[row["metric"]][row["kernel"]][int(row["boot"])].append(float(row["us"]))

    lines = []
    head = f"{'metric':<26} {'baseline us':>12} {'patched us':>11} {'ratio':>7} {'spread (boot pairs)':>21}  verdict"
    lines.append(head)
    lines.append("-" * len(head))
    ratios_for_plot = {}
    for metric in sorted(values):
        per = values[metric]
        base = [statistics.median(v) for _, v in sorted(per["baseline"].items())]
        caba = [statistics.median(v) for _, v in sorted(per["caba"].items())]
        if not base or not caba:
            continue
        mb, mc = statistics.median(base), statistics.median(caba)
        ratio = mc / mb
        pairs = [c / b for b, c in zip(base, caba)]
        lo, hi = min(pairs), max(pairs)
        ratios_for_plot[metric] = pairs
        goal = GOALS.get(metric)
        if goal is None:
            verdict = "reference"
        elif lo <= 1.0 <= hi and hi - lo > abs(ratio - 1.0):
            verdict = f"within noise (goal {goal})"
        else:
            verdict = ("meets" if ratio <= goal else "MISSES") + f" goal {goal}"
        lines.append(f"{metric:<26} {mb:>12.2f} {mc:>11.2f} {ratio:>7.4f} {lo:>10.4f} - {hi:<8.4f}  {verdict}")
    # The reap of 10,000 CABA-descendants against reparenting 10,000 children.
    reap = [m for m in values if m.startswith("reap_")]
    exitr = [m for m in values if m.startswith("exit_reparent_")]
    if reap and exitr:
        r = statistics.median(statistics.median(v) for v in values[reap[0]]["caba"].values())
        e = statistics.median(statistics.median(v) for v in values[exitr[0]]["caba"].values())
        lines.append("")
        lines.append(f"patched kernel: reaping a process with its CABA-descendants ({reap[0]}) takes {r:.0f} us,")
        lines.append(f"its exit with the reparenting of as many children ({exitr[0]}) {e:.0f} us: "
                     + ("no slower" if r <= e else "SLOWER") + " (goal: no slower)")
    text = "\n".join(lines) + "\n"
    open(f"{out}/table.txt", "w").write(text)
    print(text, end="")

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no plot")
        return
    # The ratios against their goals; exec reads its binary over 9p, so host
    # load leaks into it (see the table), and the reap is an absolute goal.
    metrics = [m for m in sorted(ratios_for_plot) if m in GOALS and m != "exec_exit_wait"]
    fig, ax = plt.subplots(figsize=(8, 4))
    for i, m in enumerate(metrics):
        ax.scatter([i] * len(ratios_for_plot[m]), ratios_for_plot[m], color="tab:blue")
        if m in GOALS:
            ax.hlines(GOALS[m], i - 0.3, i + 0.3, color="tab:red")
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xticks(range(len(metrics)), metrics, rotation=20, ha="right")
    ax.set_ylabel("patched / baseline (per boot pair)")
    ax.set_title("CABA series overhead under QEMU -icount (red: goal)")
    fig.tight_layout()
    fig.savefig(f"{out}/plot.png", dpi=110)
    print(f"plot: {out}/plot.png")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
