#!/usr/bin/env python3
"""Compile, start, private memory and reload against their targets, at 10^6 or 10^7 addresses.

    image_targets.py --build DIR [--build DIR2 ...] [--scale 6|7] [--runs N] [--cache DIR]

The config (written once into CACHE/scale-S/, reused while its stamp file is there): 100,000
routes d0..d99999.example.com; every tenth lists its addresses in an addresses_file (10,000
files, 10^S / 10,000 addresses each), the others deliver to all. Each build is measured RUNS
times (default 3), the builds alternating within a round, and the table gives the medians:

  - compile: `routectl compile -c CONF -o IMAGE` (a build with an image), or `route-milter -t`,
    which parses and compiles the same (a build without); wall time and peak RSS (wait4);
  - start: from exec of `route-milter -c CONF -p unix:SOCK -l stderr [-i IMAGE]` to the socket
    accepting a connection, with the image just compiled; with an image build also cold (no
    image: the start compiles it);
  - RssAnon: the daemon's private memory (/proc/PID/status), 1 s after it listens;
  - reload: one address file gets an address (written beside, renamed over), then SIGHUP;
    RssAnon sampled every 2 ms until the first log line after the signal that says "reload",
    neither "reloading" (the signal taken) nor "reload:" (a detail): the line that reports the
    outcome. The peak over the RssAnon just before the signal, and the time from signal to that
    line. A reload that failed ("fail", "keeping") is an error.

A build has an image when `routectl --help` lists `routectl compile`. The changed file is
written back from the generator before and after each daemon, so the cache stays as generated.
"""
import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "soak"))
from soak import replace_file  # noqa: E402  (write beside, rename over: never half a file)

ROUTES = 100000
LISTING_EVERY = 10          # every tenth route has an addresses_file: 10,000 files
CHANGED_ROUTE = 4240        # a listing route: its file is the one changed before each reload
STAMP = "complete"


def domain(route):
    return "d%d.example.com" % route


def address_file_text(route, per_file):
    d = domain(route)
    return "".join("user%d@%s\n" % (a, d) for a in range(per_file))


def generate(directory, scale):
    """CONF in directory, its address files in directory/addresses; reused when stamped."""
    per_file = 10 ** scale // (ROUTES // LISTING_EVERY)
    conf = os.path.join(directory, "route-milter.conf")
    stamp = os.path.join(directory, STAMP)
    want = "routes %d, files %d, addresses a file %d\n" % (ROUTES, ROUTES // LISTING_EVERY, per_file)
    if os.path.exists(stamp) and open(stamp).read() == want:
        return conf, per_file
    shutil.rmtree(directory, ignore_errors=True)
    files = os.path.join(directory, "addresses")
    os.makedirs(files, 0o755)
    t0 = time.monotonic()
    parts = ['scope = "all";\nlocal_domains = [ "local.example" ];\nroutes = (\n']
    for r in range(ROUTES):
        if r % LISTING_EVERY == 0:
            with open(os.path.join(files, domain(r)), "w") as f:
                f.write(address_file_text(r, per_file))
            parts.append('  { domain = "%s"; treat_recipient_as = "local"; deliver_to = "listed";\n'
                         '    addresses_file = "addresses/%s"; }' % (domain(r), domain(r)))
        else:
            parts.append('  { domain = "%s"; treat_recipient_as = "local"; deliver_to = "all"; }' % domain(r))
        parts.append(",\n" if r + 1 < ROUTES else "\n")
    parts.append(");\n")
    with open(conf, "w") as f:
        f.write("".join(parts))
    os.chmod(conf, 0o600)
    with open(stamp, "w") as f:
        f.write(want)
    print("generated %s: %d routes, %d addresses in %d files (%.0f s)" %
          (directory, ROUTES, per_file * ROUTES // LISTING_EVERY, ROUTES // LISTING_EVERY, time.monotonic() - t0),
          file=sys.stderr)
    return conf, per_file


class Build:
    def __init__(self, directory):
        self.dir = os.path.abspath(directory)
        self.milter = os.path.join(self.dir, "route-milter")
        self.routectl = os.path.join(self.dir, "routectl")
        for p in (self.milter, self.routectl):
            if not os.access(p, os.X_OK):
                sys.exit("image_targets: %s: not an executable (build it first)" % p)
        self.has_image = self.lists_compile()
        self.results = {}

    def lists_compile(self):
        for args in (["--help"], ["help"]):
            r = subprocess.run([self.routectl] + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               universal_newlines=True)
            if "routectl compile" in r.stdout:
                return True
        return subprocess.run([self.routectl, "compile", "--help"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode == 0

    def add(self, metric, value):
        self.results.setdefault(metric, []).append(value)


def timed_run(argv):
    """Wall time and peak RSS (MiB) of argv, its waited-for children included."""
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.monotonic() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(argv), proc.returncode, out.decode(errors="replace")[-2000:]))
    return took, usage.ru_maxrss / 1024.0


def rss_anon(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("no RssAnon for %d" % pid)


class Daemon:
    """route-milter in the foreground on a private unix socket, its log in a file."""

    def __init__(self, build, conf, image, work):
        self.sock = os.path.join(work, "s.sock")
        self.log_path = os.path.join(work, "log")
        for p in (self.sock, self.log_path):
            if os.path.exists(p):
                os.unlink(p)
        argv = [build.milter, "-c", conf, "-p", "unix:" + self.sock, "-l", "stderr"]
        if image:
            argv += ["-i", image]
        self.log = open(self.log_path, "w")
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)

    def text(self, since=0):
        with open(self.log_path) as f:
            f.seek(since)
            return f.read()

    def check_alive(self):
        if self.proc.poll() is not None:
            raise RuntimeError("route-milter exited (%d): %s" % (self.proc.returncode, self.text()[-2000:]))

    def wait_listening(self, timeout=900):
        """Seconds from exec to the first accepted connection."""
        deadline = self.t0 + timeout
        while time.monotonic() < deadline:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(self.sock)
                return time.monotonic() - self.t0
            except OSError:
                self.check_alive()
                time.sleep(0.001)
            finally:
                s.close()
        raise RuntimeError("route-milter did not listen within %d s" % timeout)

    def steady_rss_anon(self):
        time.sleep(1)
        samples = []
        for _ in range(5):
            samples.append(rss_anon(self.proc.pid))
            time.sleep(0.05)
        return statistics.median(samples)

    def reload(self, change, timeout=900):
        """SIGHUP after change(); (seconds to the outcome line, RssAnon before, its sampled peak)."""
        before = rss_anon(self.proc.pid)
        since = os.path.getsize(self.log_path)
        change()
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGHUP)
        peak = before
        while time.monotonic() - t0 < timeout:
            peak = max(peak, rss_anon(self.proc.pid))
            for line in self.text(since).splitlines():
                low = line.lower()
                if "reload" in low and "reloading" not in low and "reload:" not in low:
                    if "fail" in low or "keeping" in low:
                        raise RuntimeError("reload failed: %s" % line)
                    return time.monotonic() - t0, before, peak
            self.check_alive()
            time.sleep(0.002)
        raise RuntimeError("no reload line within %d s: %s" % (timeout, self.text(since)[-2000:]))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def measure(build, conf, changed, per_file, work, round_no):
    """One round of every measurement for one build."""
    image = os.path.join(work, "route-milter.image") if build.has_image else None
    original = address_file_text(CHANGED_ROUTE, per_file)
    replace_file(changed, original)
    if build.has_image:
        # A file changed within the last 2 s is recorded unsettled, and an image holding one is
        # never taken as current (it would be compiled again at the start measured below).
        time.sleep(2.1)
        took, peak = timed_run([build.routectl, "compile", "-c", conf, "-o", image])
    else:
        took, peak = timed_run([build.milter, "-t", "-c", conf])
    build.add("compile", took)
    build.add("compile peak", peak)

    daemon = Daemon(build, conf, image, work)
    try:
        build.add("start", daemon.wait_listening())
        build.add("rss", daemon.steady_rss_anon())
        extra = "bench-reload-%d@%s\n" % (round_no, domain(CHANGED_ROUTE))
        took, before, peak = daemon.reload(lambda: replace_file(changed, original + extra))
        build.add("reload", took)
        build.add("reload ratio", peak / before)
        build.add("reload peak", peak)
    finally:
        daemon.stop()
        replace_file(changed, original)

    if build.has_image:
        os.unlink(image)
        daemon = Daemon(build, conf, image, work)
        try:
            build.add("start cold", daemon.wait_listening())
        finally:
            daemon.stop()
        if os.path.exists(image):
            os.unlink(image)


def cell(values, unit, digits):
    if not values:
        return "—"
    fmt = "%%.%df" % digits
    text = (fmt % statistics.median(values)) + unit
    if len(values) > 1:
        text += " (" + fmt % min(values) + "–" + fmt % max(values) + ")"
    return text


def table(builds, scale, runs):
    big = scale >= 7
    rows = [
        # metric, key, unit, digits, target, shown for a build without an image
        ("compile, wall (old: `route-milter -t`)", "compile", " s", 2, "≤ 20 s" if big else "≤ 2.5 s", True),
        ("compile, peak RSS", "compile peak", " MiB", 0, "≤ 1.2 GB" if big else "—", True),
        ("start to listening, current image (old: plain start)", "start", " s", 3, "≤ 0.1 s", True),
        ("start to listening, no image (compiles)", "start cold", " s", 2, "—", False),
        ("daemon RssAnon, steady", "rss", " MiB", 1, "≤ 20 MB", True),
        ("reload, one file changed: RssAnon peak / steady", "reload ratio", "x", 2, "≤ 1.2x", True),
        ("reload, one file changed: RssAnon peak", "reload peak", " MiB", 1, "—", True),
        ("reload, one file changed: signal to logged outcome", "reload", " s", 2, "—", True),
    ]
    names = ["%s (%s)" % (b.dir, "image" if b.has_image else "no image") for b in builds]
    out = ["10^%d listed addresses in %d files, %d routes; medians of %d (min–max)" %
           (scale, ROUTES // LISTING_EVERY, ROUTES, runs), "",
           "| metric | " + " | ".join(names) + " | target |",
           "|---|" + "---|" * len(builds) + "---|"]
    for label, key, unit, digits, target, _ in rows:
        out.append("| %s | %s | %s |" % (label, " | ".join(cell(b.results.get(key, []), unit, digits) for b in builds),
                                         target))
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", action="append", required=True,
                    help="a build dir holding route-milter and routectl; repeat to compare (alternating)")
    ap.add_argument("--scale", type=int, choices=(6, 7), default=6, help="10^SCALE listed addresses")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cache", help="where the generated config lives (default: the first build's bench/)")
    a = ap.parse_args()
    builds = [Build(d) for d in a.build]
    cache = a.cache or os.path.join(builds[0].dir, "bench")
    t0, load0 = time.monotonic(), os.getloadavg()[0]
    conf, per_file = generate(os.path.join(os.path.abspath(cache), "image-targets-%d" % a.scale), a.scale)
    changed = os.path.join(os.path.dirname(conf), "addresses", domain(CHANGED_ROUTE))
    work = tempfile.mkdtemp(prefix="image-targets-")
    try:
        for i in range(a.runs):
            for b in builds:
                measure(b, conf, changed, per_file, work, i)
    finally:
        replace_file(changed, address_file_text(CHANGED_ROUTE, per_file))
        shutil.rmtree(work, ignore_errors=True)
    print(table(builds, a.scale, a.runs))
    print("\n(%.0f s; load average %.1f at the start, %.1f at the end, %d CPUs)" %
          (time.monotonic() - t0, load0, os.getloadavg()[0], os.cpu_count()))


if __name__ == "__main__":
    main()
