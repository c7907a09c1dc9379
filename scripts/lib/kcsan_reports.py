#!/usr/bin/env python3
"""Sort the KCSAN reports of a kernel log: those that touch the CABA fail.

    kcsan_reports.py LOG OUTDIR

A report is the block from "BUG: KCSAN: ..." to KCSAN's closing "====" line.
It concerns the series when any function in it (the title or a stack
frame) is one the series adds or changes: the CABA's own helpers, and the
functions they are inlined into (copy_process, copy_signal,
free_signal_struct, release_task, proc_pid_status, pidfd_info), because an
inlined helper's frame carries its caller's name. Every other report is a
race the kernel had before the series; it is kept and counted, not failed.

Writes OUTDIR/kcsan-caba.txt and OUTDIR/kcsan-other.txt (the reports) and
LOG.stripped (LOG without the reports, for the ordinary splat check).
Prints one summary line; exits 1 when a report concerns the series.
"""
import re
import sys

SERIES_FUNCTIONS = re.compile(
    r"^(caba_\w+|task_caba\w*|pidfd_info_caba|copy_process|copy_signal|"
    r"free_signal_struct|release_task|__exit_signal|proc_pid_status|pidfd_info)$"
)
# "BUG: KCSAN: data-race in release_task / task_caba_pid", a frame
# " release_task+0x1a2/0x5e0", or "  task_caba_pid+0x10/0x80 [module]".
TITLE = re.compile(r"BUG: KCSAN: [\w-]+ in (.*)$")
FRAME = re.compile(r"^\s*([A-Za-z_][\w.]*)\+0x[0-9a-f]+/0x[0-9a-f]+")
# dmesg lines may carry a "[   12.345678] " time stamp.
STAMP = re.compile(r"^\[\s*\d+\.\d+\]\s?")


def functions(block):
    names = set()
    for line in block:
        line = STAMP.sub("", line)
        m = TITLE.search(line)
        if m:
            names.update(n.strip() for n in m.group(1).split("/"))
            continue
        m = FRAME.match(line)
        if m:
            # Compiler suffixes: release_task.cold, copy_process.constprop.0
            names.add(m.group(1).split(".")[0])
    return names


def split(lines):
    """(reports, the other lines)."""
    reports, rest, current = [], [], None
    for i, line in enumerate(lines):
        bare = STAMP.sub("", line)
        if "BUG: KCSAN:" in bare:
            # KCSAN prints a "====" line just before the title.
            if rest and STAMP.sub("", rest[-1]).startswith("====="):
                rest.pop()
            current = [line]
            continue
        if current is not None:
            if bare.startswith("====="):
                reports.append(current)
                current = None
            else:
                current.append(line)
            continue
        rest.append(line)
    if current is not None:
        reports.append(current)
    return reports, rest


def main():
    log, outdir = sys.argv[1:3]
    with open(log, errors="replace") as f:
        lines = f.read().splitlines()
    reports, rest = split(lines)
    caba = [r for r in reports if any(SERIES_FUNCTIONS.match(n) for n in functions(r))]
    other = [r for r in reports if r not in caba]
    for name, group in (("kcsan-caba.txt", caba), ("kcsan-other.txt", other)):
        with open(f"{outdir}/{name}", "a") as f:
            for r in group:
                f.write("\n".join(r) + "\n\n")
    with open(log + ".stripped", "w") as f:
        f.write("\n".join(rest) + "\n")
    if reports:
        titles = sorted({TITLE.search(STAMP.sub("", r[0])).group(1) for r in other if TITLE.search(r[0])})
        print(f"KCSAN: {len(caba)} report(s) concerning the series, {len(other)} other"
              + (f" ({'; '.join(titles)})" if titles else ""))
    return 1 if caba else 0


if __name__ == "__main__":
    sys.exit(main())
