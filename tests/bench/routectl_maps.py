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


def run_once(routectl, config, command):
    work = tempfile.mkdtemp(prefix="routectl-maps-")
    try:
        start = time.monotonic()
        proc = subprocess.Popen([routectl, command, "-c", config, "-o", os.path.join(work, "out")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            sys.exit("routectl %s failed with status %d" % (command, proc.returncode))
        return wall, usage.ru_maxrss / 1024.0
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    routectl, config, command = sys.argv[1], sys.argv[2], sys.argv[3]
    runs = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    walls, peaks = [], []
    for i in range(runs):
        wall, peak = run_once(routectl, config, command)
        walls.append(wall)
        peaks.append(peak)
        print("routectl %s: run %d: %.2f s, peak RSS %.0f MB" % (command, i + 1, wall, peak))
    print("routectl %s: median %.2f s, peak RSS %.0f MB (%d runs)" %
          (command, statistics.median(walls), statistics.median(peaks), runs))


if __name__ == "__main__":
    main()
