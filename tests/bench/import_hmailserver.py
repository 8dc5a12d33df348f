#!/usr/bin/env python3
"""Wall time and peak RSS of `routectl import-hmailserver` on generated backups of N routes.

    import_hmailserver.py ROUTECTL [RUNS] [N...]

Makes, for each N (default 5000 and 20000), a backup as hMailServer does (UTF-16 XML packed with
7-Zip, tests/integration/test_hmailserver.py): one route in ten a wildcard "*.wK.example", one in
three listing three addresses, the rest plain; imports it RUNS times (default 3) and prints each
run, the medians, and how the median grew from one N to the next against N itself (near-linear:
the two ratios are close; quadratic: the first is the square of the second). Exits non-zero when
a run fails.
"""
import os
import shutil
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "integration"))
sys.path.insert(0, here)
from routectl_maps import measure, report_runs  # noqa: E402
from test_hmailserver import backup_xml, make_backup, route  # noqa: E402


def backup(directory, n):
    routes = []
    for i in range(n):
        if i % 10 == 0:
            routes.append(route("*.w%d.example" % i, host="mx.w%d.example" % i))
        elif i % 3 == 0:
            routes.append(route("r%d.example" % i, host="mx%d.example" % i, all_addresses=False, rcpt_local=True,
                                addresses=["a%d@r%d.example" % (k, i) for k in range(3)]))
        else:
            routes.append(route("r%d.example" % i, host="mx%d.example" % i))
    return make_backup(directory, backup_xml(routes=routes))


def main():
    routectl = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    sizes = [int(n) for n in sys.argv[3:]] or [5000, 20000]
    work = tempfile.mkdtemp(prefix="routectl-import-")
    try:
        medians = []
        for n in sizes:
            archive = backup(os.path.join(work, str(n)), n)
            argv = [routectl, "import-hmailserver", "--force", "-o", os.path.join(work, "imported.conf"), archive]
            medians.append(report_runs("routectl import-hmailserver, %d routes" % n, runs, lambda: measure(argv)))
        for (n0, t0), (n1, t1) in zip(zip(sizes, medians), zip(sizes[1:], medians[1:])):
            print("routectl import-hmailserver: %d -> %d routes (x%.1f): time x%.1f" % (n0, n1, n1 / n0, t1 / t0))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
