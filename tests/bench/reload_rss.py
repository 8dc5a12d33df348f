#!/usr/bin/env python3
"""RSS of the running daemon across reloads: steady, peak during each SIGHUP, and after it.

    reload_rss.py ROUTE_MILTER CONFIG [RELOADS [ADDRESS_FILE]]

Starts route-milter in the foreground on a private unix socket, waits for it to listen, then
SIGHUPs it RELOADS times (default 3). With ADDRESS_FILE, that file gets one address more (of
its first address's domain) before each reload, a different one each time, so that every reload
reads one changed file; the file is restored at the end. The peak of each reload is the kernel's VmHWM after it
was reset (/proc/PID/clear_refs, 5) just before the signal: exact, not sampled. Prints one line
per reload and a summary; exits non-zero when a reload fails or the daemon dies.
"""
import os
import signal
import subprocess
import sys
import tempfile
import time


def status(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("no %s for %d" % (key, pid))


def main():
    binary, config = sys.argv[1], sys.argv[2]
    reloads = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    changed = sys.argv[4] if len(sys.argv) > 4 else None
    original = None
    if changed:
        with open(changed) as f:
            original = f.read()
        domain = next(l for l in original.splitlines() if "@" in l and not l.startswith("#")).rsplit("@", 1)[1]
    work = tempfile.mkdtemp(prefix="reload-rss-")
    log_path = os.path.join(work, "log")
    log = open(log_path, "w")
    proc = subprocess.Popen([binary, "-c", config, "-i", os.path.join(work, "policy.image"),
                             "-p", "unix:" + os.path.join(work, "s.sock"), "-l", "stderr"],
                            stdout=log, stderr=subprocess.STDOUT)

    def text():
        with open(log_path) as f:
            return f.read()

    def wait_for(what, since, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            t = text()[since:]
            if what in t:
                return t
            if "keeping the running policy" in t or proc.poll() is not None:
                raise RuntimeError("route-milter: %s" % text()[since:])
            time.sleep(0.02)
        raise RuntimeError("timed out waiting for %r" % what)

    try:
        t0 = time.time()
        wait_for("starting", 0)
        start_s = time.time() - t0
        time.sleep(1)
        steady = status(proc.pid, "VmRSS")
        print("start: %.2f s to listen, peak RSS %.0f MB, steady RSS %.0f MB" % (start_s, status(proc.pid, "VmHWM"), steady))
        peaks, afters = [], []
        for i in range(reloads):
            with open("/proc/%d/clear_refs" % proc.pid, "w") as f:
                f.write("5")
            if changed:
                with open(changed, "w") as f:
                    f.write(original + "bench-reload-%d@%s\n" % (i, domain))
            since = len(text())
            t0 = time.time()
            proc.send_signal(signal.SIGHUP)
            wait_for("reloaded", since)
            took = time.time() - t0
            time.sleep(1)
            peak, after = status(proc.pid, "VmHWM"), status(proc.pid, "VmRSS")
            peaks.append(peak)
            afters.append(after)
            print("reload %d: %.2f s, peak RSS %.0f MB (%.2fx steady), after %.0f MB (%+.0f%%)" %
                  (i + 1, took, peak, peak / steady, after, (after / steady - 1) * 100))
        print("reload summary%s: steady %.0f MB, peak %.0f MB (%.2fx), after %.0f MB (%+.0f%%)" %
              (" (one file changed each time)" if changed else "", steady, max(peaks), max(peaks) / steady, afters[-1], (afters[-1] / steady - 1) * 100))
    finally:
        if changed:
            with open(changed, "w") as f:
                f.write(original)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        for name in os.listdir(work):
            os.unlink(os.path.join(work, name))
        os.rmdir(work)


if __name__ == "__main__":
    main()
