#!/usr/bin/env python3
"""Wall time and peak RSS of `routectl postfix` / `routectl sendmail` on a config.

    routectl_maps.py ROUTECTL CONFIG COMMAND [RUNS]

Runs `ROUTECTL COMMAND -c CONFIG -o DIR` RUNS times (default 3), each into a fresh private
directory (removed afterwards), and prints each run and the medians. The peak RSS is the
kernel's for that child (wait4's ru_maxrss), exact, not sampled. Exits non-zero when a run fails.

COMMAND postfix-cdb compares two ways to Postfix's cdb tables, run by run in turns, for a
Postfix whose main.cf says default_database_type = cdb (a private config directory): routectl
writing the .cdb files itself, and routectl writing the text (--database-type hash) followed by
`postmap cdb:` on each keyed table (the wall time of both, the larger peak RSS). Both ways'
relay_recipients.cdb must answer the same for a sample of keys (postmap -q).
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def measure_cpu(argv):
    """Runs argv (output discarded): its wall time, peak RSS (MB) and CPU time (user + system,
    which other work on the host disturbs less than the wall time); exits when it fails."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit("%s failed with status %d" % (" ".join(argv), os.waitstatus_to_exitcode(status)))
    return wall, usage.ru_maxrss / 1024.0, usage.ru_utime + usage.ru_stime


def measure(argv):
    """Runs argv (output discarded): its wall time and peak RSS (MB); exits when it fails."""
    return measure_cpu(argv)[:2]


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


KEYED_TABLES = ("transport", "sasl_passwd", "tls_policy", "relay_domains", "relay_recipients", "etrn_domains")


def sample_keys(table, every=9973):
    """Every `every`-th key of a table's text (comments skipped)."""
    keys = []
    with open(table, "rb") as f:
        for n, line in enumerate(f):
            if not line.startswith(b"#") and n % every == 0:
                keys.append(line.split(b"\t", 1)[0])
    return keys


def postmap_answers(postfix_config, table, keys):
    r = subprocess.run(["postmap", "-c", postfix_config, "-q", "-", table], input=b"\n".join(keys) + b"\n",
                       capture_output=True)
    if r.returncode not in (0, 1):
        sys.exit("postmap -q - %s failed: %s" % (table, r.stderr.decode(errors="replace")))
    return r.stdout


def compare_cdb_ways(routectl, config, runs):
    work = tempfile.mkdtemp(prefix="routectl-cdb-")
    try:
        postfix_config = os.path.join(work, "postfix")
        os.mkdir(postfix_config)
        with open(os.path.join(postfix_config, "main.cf"), "w") as f:
            f.write("compatibility_level = 3.6\ndefault_database_type = cdb\n")
        answers = {}

        def direct():
            out = os.path.join(work, "direct")
            shutil.rmtree(out, ignore_errors=True)
            result = measure_cpu([routectl, "postfix", "-c", config, "-o", out, "--postfix-config", postfix_config])
            answers["direct"] = out
            return result

        def with_postmap():
            out = os.path.join(work, "postmap")
            shutil.rmtree(out, ignore_errors=True)
            wall, peak, cpu = measure_cpu([routectl, "postfix", "-c", config, "-o", out, "--postfix-config",
                                           postfix_config, "--database-type", "hash"])
            for table in KEYED_TABLES:
                w, p, c = measure_cpu(["postmap", "-c", postfix_config, "cdb:" + os.path.join(out, table)])
                wall, peak, cpu = wall + w, max(peak, p), cpu + c
            answers["postmap"] = out
            return wall, peak, cpu

        results = {"direct": ([], [], []), "postmap": ([], [], [])}
        for i in range(runs):
            for label, way in (("direct", direct), ("postmap", with_postmap)):
                for into, value in zip(results[label], way()):
                    into.append(value)
                wall, peak, cpu = (values[-1] for values in results[label])
                print("routectl postfix, cdb %s: run %d: %.2f s (CPU %.2f s), peak RSS %.0f MB"
                      % (label, i + 1, wall, cpu, peak))
        keys = sample_keys(os.path.join(answers["direct"], "relay_recipients"))
        got = {label: postmap_answers(postfix_config, "cdb:" + os.path.join(out, "relay_recipients"), keys)
               for label, out in answers.items()}
        if got["direct"] != got["postmap"] or got["direct"].count(b"\n") != len(keys):
            sys.exit("the two ways' relay_recipients.cdb answer differently for %d sample keys" % len(keys))
        for label, what in (("direct", "written by routectl"), ("postmap", "text, then postmap cdb:")):
            walls, peaks, cpus = results[label]
            print("routectl postfix, cdb %s (%s): median %.2f s (CPU %.2f s), peak RSS %.0f MB (%d runs)"
                  % (label, what, statistics.median(walls), statistics.median(cpus), statistics.median(peaks), runs))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    routectl, config, command = sys.argv[1], sys.argv[2], sys.argv[3]
    runs = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    if command == "postfix-cdb":
        compare_cdb_ways(routectl, config, runs)
        return
    report_runs("routectl " + command, runs, lambda: run_once(routectl, config, command))


if __name__ == "__main__":
    main()
