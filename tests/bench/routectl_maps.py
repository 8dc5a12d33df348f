#!/usr/bin/env python3
"""Wall time and peak RSS of `routectl postfix` / `routectl sendmail` on a config.

    routectl_maps.py ROUTECTL CONFIG COMMAND [RUNS]

Runs `ROUTECTL COMMAND -c CONFIG -o DIR` RUNS times (default 3), each into a fresh private
directory (removed afterwards), and prints each run and the medians. The peak RSS is the
kernel's for that child (wait4's ru_maxrss), exact, not sampled. Exits non-zero when a run fails.
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def measure(argv):
    """Runs argv (output discarded): its wall time and peak RSS (MB); exits when it fails."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit("%s failed with status %d" % (" ".join(argv), os.waitstatus_to_exitcode(status)))
    return wall, usage.ru_maxrss / 1024.0


def report_runs(label, runs, run_once):
    """Calls run_once() `runs` times, prints each run and the medians; returns the median time."""
    walls, peaks = [], []
    for i in range(runs):
        wall, peak = run_once()
        walls.append(wall)
        peaks.append(peak)
        print("%s: run %d: %.2f s, peak RSS %.0f MB" % (label, i + 1, wall, peak))
    print("%s: median %.2f s, peak RSS %.0f MB (%d runs)" % (label, statistics.median(walls), statistics.median(peaks),
                                                          runs))
    return statistics.median(walls)


def run_once(routectl, config, command):
    work = tempfile.mkdtemp(prefix="routectl-maps-")
    try:
        return measure([routectl, command, "-c", config, "-o", os.path.join(work, "out")])
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    routectl, config, command = sys.argv[1], sys.argv[2], sys.argv[3]
    runs = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    report_runs("routectl " + command, runs, lambda: run_once(routectl, config, command))


if __name__ == "__main__":
    main()
