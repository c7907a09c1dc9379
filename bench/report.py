#!/usr/bin/env python3
"""Summarise scripts/bench's raw CSV and the layout facts from bench/sizes.

    report.py RAW_CSV OUT_DIR [SIZES_TXT]

RAW_CSV has the columns kernel,pair,seq,metric,value (kernel: baseline or
caba; pair: the boot pair; seq: the boot's place in the run). Writes
OUT_DIR/table.txt (printed too) and OUT_DIR/plot.png.

Units. Times are microseconds per operation of QEMU's virtual clock under
-icount shift=0: one guest instruction is one virtual nanosecond, plus idle
time skipped to the next timer. They count guest work; QEMU models no caches,
TLBs or memory latency, so they are NOT hardware time. "_cpu" is the
process's own CPU time (CLOCK_PROCESS_CPUTIME_ID): no idle, no other tasks.
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
    "status_self": 1.02,
    "status_init_root": 1.02,
    "status_other_root": 1.02,
    "status_other_user": 1.02,
    "status_other_user_allowed": 1.02,
    "sweep_root": 1.02,
    "sweep_user": 1.02,
}
# The order of the main table; each also has a "_cpu" row.
MAIN = list(GOALS)
WHAT = {
    "fork_exit_wait": "fork, child _exit, waitpid",
    "vfork_exit_wait": "vfork, child _exit, waitpid",
    "thread_create_join": "std::thread::spawn + join",
    "exec_exit_wait": "vfork+execve of a 129-byte static ELF on tmpfs",
    "status_self": "read /proc/self/status (root)",
    "status_init_root": "read pid 1's status as root (CABA none: no check)",
    "status_other_root": "read a child's status as root (CABA visible)",
    "status_other_user": "as uid 65534, a root child's (ptrace refused)",
    "status_other_user_allowed": "as uid 65534, a uid-65534 child's (allowed)",
    "sweep_root": "every /proc/[0-9]*/status once, as root",
    "sweep_user": "every /proc/[0-9]*/status once, as uid 65534",
}
THREAD_PARTS = [
    ("thread_create_join", "us", "wall (virtual) time"),
    ("thread_create_join_cpu", "us", "CPU time of the process (all its threads)"),
    ("thread_create_join_others", "us", "CPU time of every other task"),
    ("thread_create_join_rest", "us", "rest = wall - cpu - others: exiting threads after release + idle"),
    ("thread_create_join_idle", "us", "idle, tick-sampled (/proc/stat; 0.5 us/op resolution)"),
    ("thread_create_join_csw", "/op", "context switches of the process"),
    ("thread_create_join_ctxt", "/op", "context switches, system-wide"),
    ("thread_create_join_irqs", "/op", "interrupts, system-wide"),
    ("thread_create_join_faults", "/op", "page faults of the process"),
]
# A cold cache line on hardware (DRAM, local node to remote node): the range
# the estimates use. An estimate, not a measurement.
LATENCY_NS = (80, 250)
# The fields each walk touches per entry (bench/sizes/sizes.c).
CABA_FIELDS = [("signal_struct", "caba_sibling"), ("signal_struct", "caba")]
FORGET_CHILD_TASK = ["sibling", "signal", "thread_node", "real_parent", "parent",
                     "ptrace", "pdeath_signal", "exit_state", "exit_signal"]
FORGET_CHILD_SIGNAL = ["thread_head", "pids_pgid"]
FORGET_THREAD_TASK = ["thread_node", "real_parent", "parent", "ptrace", "pdeath_signal"]


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def load(raw):
    # values[metric][kernel][pair] = samples; order[seq] = (kernel, pair)
    values = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    order = {}
    for row in csv.DictReader(open(raw)):
        pair = int(row["pair"])
        values[row["metric"]][row["kernel"]][pair].append(float(row["value"]))
        order[int(row["seq"])] = (row["kernel"], pair)
    return values, order


def per_boot(values, metric, kernel):
    """{pair: median of the boot's samples}"""
    return {p: med(v) for p, v in values.get(metric, {}).get(kernel, {}).items()}


def compare(values, metric):
    """(baseline median, patched median, ratio, per-pair ratios)"""
    b, c = per_boot(values, metric, "baseline"), per_boot(values, metric, "caba")
    if not b or not c:
        return None
    mb, mc = med(list(b.values())), med(list(c.values()))
    pairs = [c[p] / b[p] for p in sorted(b) if p in c and b[p]]
    return mb, mc, (mc / mb if mb else float("nan")), pairs


def load_sizes(path):
    """{variant: {(kind, name): value}}"""
    sizes = defaultdict(dict)
    if path:
        for line in open(path):
            parts = line.split()
            if len(parts) == 4:
                sizes[parts[0]][(parts[1], parts[2])] = int(parts[3])
    return sizes


def lines_touched(sz, struct, fields, line):
    """The distinct cache lines of an object aligned to `line` bytes."""
    offs = [sz.get(("offset", f"{struct}.{f}")) for f in fields]
    if None in offs:
        return None, []
    return len({o // line for o in offs}), offs


def main(raw, out, sizes_path=None):
    values, order = load(raw)
    sizes = load_sizes(sizes_path)
    npairs = len({p for (_, p) in order.values()})
    seqs = " ".join("A" if order[s][0] == "baseline" else "B" for s in sorted(order))
    L = []
    L.append("CABA series overhead: baseline (A, pristine 7.2.13) vs patched (B), same config")
    L.append(f"{npairs} boot pairs, boot order {seqs}; QEMU -icount shift=0, 1 vCPU, nokaslr.")
    L.append("Times: microseconds of QEMU's virtual clock per operation = thousands of guest")
    L.append("instructions (+ idle skipped to the next timer); NOT hardware time. '_cpu': the")
    L.append("process's own CPU time (CLOCK_PROCESS_CPUTIME_ID), which leaves out idle and other tasks.")
    L.append("Medians over boots (each boot: one run of n ops); ratio = patched/baseline medians;")
    L.append("pairs = min / median / max of the per-pair ratios.")
    L.append("")
    head = (f"{'metric':<30} {'baseline':>10} {'patched':>10} {'ratio':>7}  "
            f"{'pairs min / med / max':>24}  verdict")
    L.append(head)
    L.append("-" * len(head))
    plot = {}
    for metric in MAIN:
        for name in (metric, metric + "_cpu"):
            r = compare(values, name)
            if r is None:
                continue
            mb, mc, ratio, pairs = r
            if name == metric:
                plot[metric] = pairs
            goal = GOALS[metric]
            lo, mid, hi = min(pairs), med(pairs), max(pairs)
            verdict = ("meets" if ratio <= goal else "MISSES") + f" goal {goal}"
            if lo <= 1.0 <= hi:
                verdict += ", pairs straddle 1"
            L.append(f"{name:<30} {mb:>10.3f} {mc:>10.3f} {ratio:>7.4f}  "
                     f"{lo:>7.4f} / {mid:.4f} / {hi:.4f}  {verdict}")
    L.append("")
    for metric in MAIN:
        L.append(f"  {metric}: {WHAT[metric]}")

    # Thread create+join: where the wall time goes.
    if compare(values, "thread_create_join_cpu"):
        L.append("")
        L.append("Thread create+join, per op (medians; diff = patched - baseline; pairs: min..max of the per-pair diffs):")
        L.append(f"{'part':<28} {'unit':>4} {'baseline':>10} {'patched':>10} {'diff':>9}  {'pairs':>21}")
        for name, unit, what in THREAD_PARTS:
            b, c = per_boot(values, name, "baseline"), per_boot(values, name, "caba")
            if not b or not c:
                continue
            d = [c[p] - b[p] for p in sorted(b) if p in c]
            L.append(f"{name.replace('thread_create_join', 'thread'):<28} {unit:>4} {med(list(b.values())):>10.3f} "
                     f"{med(list(c.values())):>10.3f} {med(list(c.values())) - med(list(b.values())):>+9.3f}  "
                     f"{min(d):>+9.3f} .. {max(d):<+9.3f}  {what}")
        L.append("Per boot (seq kernel: wall = cpu + others + rest, us/op; idle):")
        for s in sorted(order):
            k, p = order[s]
            get = lambda m: values[m][k][p][0] if values[m][k][p] else float("nan")
            L.append(f"  {s:>3} {k:<8} {get('thread_create_join'):8.3f} = {get('thread_create_join_cpu'):8.3f}"
                     f" + {get('thread_create_join_others'):7.3f} + {get('thread_create_join_rest'):7.3f};"
                     f" idle {get('thread_create_join_idle'):5.2f}"
                     f"   ctxt/op {get('thread_create_join_ctxt'):.3f}")

    # Status sweep: what was read.
    if "sweep_procs" in values:
        L.append("")
        for k in ("baseline", "caba"):
            procs = med(list(per_boot(values, "sweep_procs", k).values()))
            kth = med(list(per_boot(values, "sweep_kthreads", k).values()))
            vis = med(list(per_boot(values, "sweep_caba_visible", k).values()))
            sw = med(list(per_boot(values, "sweep_root", k).values()))
            swu = med(list(per_boot(values, "sweep_user", k).values()))
            extra = (f", {vis:.0f} of them with a CABA that has a pid here (ptrace check runs)"
                     if k == "caba" else "")
            L.append(f"sweep on {k}: {procs:.0f} processes ({kth:.0f} kernel threads, 102 sleeping children of the benchmark)"
                     f"{extra}; {sw / procs:.2f} us per status as root, {swu / procs:.2f} as user")

    # Release walks: instructions per entry from the slope between N = 1,000
    # and 10,000; cache lines per entry from the layout.
    ns = sorted({int(m.rsplit("_", 1)[1]) for m in values if m.startswith("reap_")})
    if len(ns) >= 2:
        n0, n1 = ns[0], ns[-1]
        L.append("")
        L.append(f"Release walks (median over boots of the per-boot median of 3 runs; virtual us; slope over N = {n0} .. {n1}")
        L.append("in guest instructions per entry, 1 virtual ns = 1 instruction under shift=0):")
        slopes = {}
        for k in ("baseline", "caba"):
            for what, m in (("exit + reparent N children", "exit_reparent"), ("reap (release) of X", "reap")):
                a = med(list(per_boot(values, f"{m}_{n0}", k).values()))
                b = med(list(per_boot(values, f"{m}_{n1}", k).values()))
                slope = (b - a) / (n1 - n0) * 1000
                fixed = a - n0 * slope / 1000
                slopes[(k, m)] = slope
                L.append(f"  {k:<8} {what:<27} N={n0}: {a:9.1f}  N={n1}: {b:9.1f}  "
                         f"-> {slope:6.2f} instructions/entry + {fixed:7.1f} us fixed")
        caba_walk = slopes[("caba", "reap")] - slopes[("baseline", "reap")]
        L.append(f"  caba_release() walk: {caba_walk:.2f} instructions per CABA-descendant (patched reap slope - baseline's)")
        L.append(f"  forget_original_parent() walk: {slopes[('baseline', 'exit_reparent')]:.2f} (baseline) / "
                 f"{slopes[('caba', 'exit_reparent')]:.2f} (patched) instructions per child, the whole exit path's slope")
        for m in sorted(v for v in values if v.startswith("chain") and "_reap_median_" in v):
            k_, n_ = m[len("chain"):].split("_reap_median_")
            tot = m.replace("_median_", "_total_")
            b, c = (med(list(per_boot(values, m, k).values())) for k in ("baseline", "caba"))
            tb, tc = (med(list(per_boot(values, tot, k).values())) for k in ("baseline", "caba"))
            L.append(f"  chain of {k_} creators (CLONE_PARENT, all children of the reaper), {n_} sleepers under the last;"
                     f" reaping the creators bottom up, each reap walks the pile again:")
            L.append(f"    median reap per creator: baseline {b:.1f} us, patched {c:.1f} us; all {k_} reaps: "
                     f"baseline {tb:.1f} us, patched {tc:.1f} us (paid by the reaper in wait())")
        sz = sizes.get("caba", {})
        line = sz.get(("const", "l1_cache_bytes"), 64)
        cl, coffs = lines_touched(sz, "signal_struct", [f for _, f in CABA_FIELDS], line)
        ft, foffs = lines_touched(sz, "task_struct", FORGET_CHILD_TASK, line)
        fs, soffs = lines_touched(sz, "signal_struct", FORGET_CHILD_SIGNAL, line)
        tt, _ = lines_touched(sz, "task_struct", FORGET_THREAD_TASK, line)
        if cl is not None and ft is not None and fs is not None:
            L.append(f"  cache lines per entry ({line}-byte lines, objects {line}-aligned; offsets from bench/sizes, patched build):")
            L.append(f"    caba_release(): {cl} line(s) per descendant: its signal_struct's caba_sibling.next @{coffs[0]} "
                     f"and caba @{coffs[1]} (lines {sorted({o // line for o in coffs})})")
            L.append(f"    forget_original_parent(): {ft + fs} lines per single-threaded child: task_struct "
                     + ", ".join(f"{f}@{o}" for f, o in zip(FORGET_CHILD_TASK, foffs))
                     + f" = {ft} lines; signal_struct thread_head@{soffs[0]}, pids[PGID]@{soffs[1]} = {fs} lines;"
                     f" +{tt} per further thread")
            for name, lines in (("caba_release()", cl), ("forget_original_parent()", ft + fs)):
                lo, hi = LATENCY_NS
                L.append(f"    ESTIMATE, not measured: {name} on hardware, all cold: {lines} x {lo}-{hi} ns = "
                         f"{lines * lo}-{lines * hi} ns per entry")

    # Memory per process.
    L.append("")
    for k in ("baseline", "caba"):
        s = sizes.get(k, {}).get(("size", "signal_struct"))
        line = sizes.get(k, {}).get(("const", "l1_cache_bytes"), 64)
        obj = med(list(per_boot(values, "slab_signal_cache_object_size", k).values()))
        slab = med(list(per_boot(values, "slab_signal_cache_slab_size", k).values()))
        per = med(list(per_boot(values, "slab_signal_cache_objs_per_slab", k).values()))
        order_ = med(list(per_boot(values, "slab_signal_cache_order", k).values()))
        if s is None:
            continue
        rounded = -(-s // line) * line
        L.append(f"memory {k:<8}: sizeof(signal_struct) {s} B, rounded to {line} B (SLAB_HWCACHE_ALIGN) {rounded} B computed; "
                 f"/sys/kernel/slab/signal_cache in the VM: object_size {obj:.0f}, slab_size {slab:.0f}, "
                 f"{per:.0f} objects per order-{order_:.0f} slab; sizeof(task_struct) {sizes[k].get(('size', 'task_struct'))} B")
    lim = {m: med(list(per_boot(values, m, "caba").values())) for m in ("limit_threads_max", "limit_pid_max", "limit_nproc")}
    if all(v == v for v in lim.values()):
        L.append(f"limits in the VM (2 GiB): threads-max {lim['limit_threads_max']:.0f}, pid_max {lim['limit_pid_max']:.0f}, "
                 f"RLIMIT_NPROC {lim['limit_nproc']:.0f} (= threads-max/2, the kernel's default for every user)")

    text = "\n".join(L) + "\n"
    open(f"{out}/table.txt", "w").write(text)
    print(text, end="")

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no plot")
        return
    metrics = [m for m in MAIN if m in plot]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [3, 1.3]})
    for i, m in enumerate(metrics):
        ax.scatter([i] * len(plot[m]), plot[m], color="tab:blue", s=14)
        cpu = compare(values, m + "_cpu")
        if cpu:
            ax.scatter([i + 0.25] * len(cpu[3]), cpu[3], color="tab:green", s=14, marker="x")
        ax.hlines(GOALS[m], i - 0.3, i + 0.4, color="tab:red")
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xticks(range(len(metrics)), metrics, rotation=25, ha="right")
    ax.set_ylabel("patched / baseline, per boot pair")
    ax.set_title("blue: wall (virtual) time, green x: process CPU time, red: goal", fontsize=9)
    for k, col in (("baseline", "tab:gray"), ("caba", "tab:orange")):
        w = per_boot(values, "thread_create_join", k)
        c = per_boot(values, "thread_create_join_cpu", k)
        ps = sorted(set(w) & set(c))
        ax2.scatter([c[p] for p in ps], [w[p] for p in ps], color=col, label=k, s=16)
    ax2.set_xlabel("CPU us per thread create+join")
    ax2.set_ylabel("wall (virtual) us per op")
    ax2.set_title("thread create+join, one dot per boot", fontsize=9)
    ax2.legend(fontsize=8)
    fig.suptitle("CABA series under QEMU -icount shift=0 (virtual time = guest instructions, not hardware time)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(f"{out}/plot.png", dpi=110)
    print(f"plot: {out}/plot.png")


if __name__ == "__main__":
    main(*sys.argv[1:4])
