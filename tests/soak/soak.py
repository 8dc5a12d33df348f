#!/usr/bin/env python3
"""make soak: route-milter under load through a real Postfix while its config is reloaded.

SESSIONS SMTP sessions (RCPTS recipients each) from WORKERS parallel clients, every reply
recorded, while the milter gets SIGHUP every second: two valid configs that disagree on a known
set of addresses, alternately, and a broken config every tenth reload. Pass when
  - no reply is a 4xx (no tempfail) and the milter never dies,
  - addresses both configs list are always accepted, those neither lists always refused,
    and the disputed ones get one of the two configs' answers,
  - the daemon's private memory (RssAnon) and open fds at the end are within 10% of their
    values after warm-up (1 MiB at least, for the memory).

--big: the same at a backup MX's size. 100,000 routes and 1,000,000 listed addresses, each
route's addresses in an addresses_file (written here, in the soak's temp dir, like
`bench-core generate FILE 100000 10 files`), 100,000 sessions by default, and every 2 s the
address file of soak.test is swapped (written beside it, renamed over it) between A and B before
the SIGHUP, every tenth time for a broken one (an address outside the route's domain). Each
reload's outcome is awaited in the milter's log; pass also needs every valid file taken, every
broken one refused with a message naming FILE:LINE, and the disputed addresses seen with both
answers. Recipients also hit the generated routes, listed and not, so lookups go through the
big index. Prints the RSS after warm-up, its peak during the reloads (VmHWM, reset after
warm-up), and at the end.

usage: soak.py [--big] [--sessions N] [--rcpts N] [--workers N] [--warmup N]
"""
import argparse
import collections
import multiprocessing
import os
import re
import shutil
import signal
import statistics
import smtplib
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import lab  # noqa: E402

BOTH = ["both%d@soak.test" % i for i in range(5)]     # listed in A and B
ONLY_A = ["onlya%d@soak.test" % i for i in range(5)]  # listed in A only
ONLY_B = ["onlyb%d@soak.test" % i for i in range(5)]  # listed in B only
NEITHER = ["nobody%d@soak.test" % i for i in range(5)]
ELSEWHERE = ["x%d@elsewhere.test" % i for i in range(5)]  # no route: never judged

CONFIG = """milter = { user = "postfix"; };
routes = ( { domain = "soak.test"; treat_recipient_as = "local"; deliver_to = "listed";
             addresses = [ %s ]; } );
"""
BROKEN = 'routes = ( { domain = "soak.test"; deliver_to = "listed"; addresses = [ "both0@soak.test" '


def config(extra):
    return CONFIG % ", ".join('"%s"' % a for a in BOTH + extra)


# --big: soak.test plus BIG_ROUTES - 1 generated routes of PER_ROUTE addresses each, so that
# routes and addresses come out at 100,000 and 1,000,000 (soak.test lists 10 in A and in B).
BIG_ROUTES = 100000
PER_ROUTE = 10
SOAK_FILE = "soak.test.addresses"
BIG_HEAD = """milter = { user = "postfix"; };
routes = (
  { domain = "soak.test"; treat_recipient_as = "local"; deliver_to = "listed";
    addresses_file = "%s"; }""" % SOAK_FILE
BIG_ROUTE = """,
  { domain = "d%d.example.com"; treat_recipient_as = "local"; deliver_to = "listed";
    addresses_file = "addresses/d%d.example.com"; }"""
# The broken file: a valid start, then one address outside the route (its line is known).
BROKEN_LINE = 3


def address_file(extra):
    return "# soak.test, written by soak.py\n" + "".join(a + "\n" for a in BOTH + extra)


def broken_address_file():
    return "# soak.test, broken on line %d\n%s\nintruder@elsewhere.test\n%s" % (
        BROKEN_LINE, BOTH[0], "".join(a + "\n" for a in BOTH[1:] + ONLY_A))


def write_big_config(milter, work):
    """The 100,000-route config, its address files readable by the milter's user."""
    directory = os.path.join(work, "addresses")
    os.mkdir(directory, 0o755)
    parts = [BIG_HEAD]
    for r in range(1, BIG_ROUTES):
        domain = "d%d.example.com" % r
        with open(os.path.join(directory, domain), "w") as f:
            f.write("".join("user%d@%s\n" % (u, domain) for u in range(PER_ROUTE)))
        parts.append(BIG_ROUTE % (r, r))
    parts.append("\n);\n")
    replace_file(os.path.join(work, SOAK_FILE), address_file(ONLY_A))
    milter.write_config("".join(parts))


def replace_file(path, text):
    """Write beside, rename over: a reload sees the old file or the new one, never half."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def big_pick(i):
    """Recipient number i of the big mode's mix and the replies it may get: a third from the
    soak.test/elsewhere set, a third listed and a third unlisted addresses of generated routes."""
    if i % 3 == 0:
        r = EVERYONE[i % len(EVERYONE)]
        return r, expected(r)
    route = 1 + (i * 2654435761) % (BIG_ROUTES - 1)
    if i % 3 == 1:
        return "user%d@d%d.example.com" % (i % PER_ROUTE, route), {250}
    return "user%d@d%d.example.com" % (PER_ROUTE + i % 90, route), {550}


def expected(rcpt):
    """The replies a recipient may get while either config is in force."""
    if rcpt in BOTH or rcpt in ELSEWHERE:
        return {250}
    if rcpt in NEITHER:
        return {550}
    return {250, 550}


EVERYONE = BOTH + ONLY_A + ONLY_B + NEITHER + ELSEWHERE


def worker(args):
    port, first, count, rcpts, big = args
    counts = collections.Counter()
    disputed = collections.Counter()
    bad = []
    for n in range(first, first + count):
        if big:
            chosen = [big_pick(n * rcpts + k) for k in range(rcpts)]
        else:
            chosen = [(r, expected(r)) for r in (EVERYONE[(n * 7 + k * 3) % len(EVERYONE)]
                                                  for k in range(rcpts))]
        try:
            s = smtplib.SMTP("127.0.0.1", port, timeout=60)
            s.ehlo("soak.client.test")
            code, msg = s.docmd("MAIL FROM:<sender%d@far.test>" % n)
            if code != 250:
                bad.append((n, "MAIL", code, msg.decode(errors="replace")))
            for r, allowed in chosen:
                code, msg = s.docmd("RCPT TO:<%s>" % r)
                counts[code] += 1
                if len(allowed) > 1:
                    disputed["only-A" if r in ONLY_A else "only-B", code] += 1
                if code not in allowed:
                    bad.append((n, r, code, msg.decode(errors="replace")))
            s.docmd("RSET")
            s.quit()
        except (OSError, smtplib.SMTPException) as e:
            bad.append((n, "session", -1, repr(e)))
        counts["sessions"] += 1
    return counts, disputed, bad


def status_kb(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def rss_and_fds(pid):
    """The daemon's private memory (RssAnon: the policy image it maps is the file's pages, shared
    and reclaimable, not its own) and its open fds."""
    return status_kb(pid, "RssAnon"), len(os.listdir("/proc/%d/fd" % pid))


def grew(before, after, kb):
    """Growth beyond 10% (and beyond `kb`: a daemon of a megabyte moves by more than 10% as its
    threads' stacks and malloc arenas are touched)."""
    return after > before * 1.10 and after > before + kb


def run_load(pool, port, first, sessions, rcpts, workers, big=False):
    per = -(-sessions // workers)  # every worker the same share, rounded up: at least `sessions`
    jobs = [(port, first + i * per, per, rcpts, big) for i in range(workers)]
    counts, disputed, bad = collections.Counter(), collections.Counter(), []
    for c, d, b in pool.imap_unordered(worker, jobs):
        counts.update(c)
        disputed.update(d)
        bad.extend(b)
    return counts, disputed, bad


def load_while(reloader, stop, pool, port, a, big=False):
    """The soak's sessions while reloader runs; then stop it and let connections close."""
    t0 = time.monotonic()
    reloader.start()
    counts, disputed, bad = run_load(pool, port, a.warmup, a.sessions, a.rcpts, a.workers, big)
    elapsed = time.monotonic() - t0
    stop.set()
    reloader.join()
    pool.close()
    pool.join()
    time.sleep(2)
    return counts, disputed, bad, elapsed


def print_load(name, counts, elapsed, more=""):
    print("%s: %d sessions, %d recipients in %.1f s: %.0f sessions/s"
          % (name, counts["sessions"], sum(v for k, v in counts.items() if k != "sessions"), elapsed,
             counts["sessions"] / elapsed))
    print("replies: " + ", ".join("%s x%d" % (k, v) for k, v in sorted(counts.items(), key=str)
                                 if k != "sessions") + more)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--big", action="store_true",
                    help="100,000 routes, 1,000,000 addresses in address files, reloads every 2 s")
    ap.add_argument("--sessions", type=int, help="default 20000, with --big 100000")
    ap.add_argument("--rcpts", type=int, default=5)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=2000)
    a = ap.parse_args()
    if a.sessions is None:
        a.sessions = 100000 if a.big else 20000
    if a.big:
        return main_big(a)
    work = tempfile.mkdtemp(prefix="route-milter-soak-")
    os.chmod(work, 0o755)
    failures = []
    with lab.PostfixLab(milter="", extra_main={"default_process_limit": "100"}) as postfix:
        milter = lab.Milter(work, config(ONLY_A), name="soak", user="postfix")
        milter.start()
        try:
            postfix.set_milter(milter.postfix_socket)
            pool = multiprocessing.Pool(a.workers)
            counts, _, bad = run_load(pool, postfix.port, 0, a.warmup, a.rcpts, a.workers)
            failures += bad
            time.sleep(2)
            rss0, fds0 = rss_and_fds(milter.proc.pid)
            print("after warm-up (%d sessions): RssAnon %d kB, %d open fds" % (a.warmup, rss0, fds0), flush=True)

            stop = threading.Event()
            reloads = collections.Counter()

            def reloader():
                n = 0
                while not stop.wait(1.0):
                    n += 1
                    if n % 10 == 0:
                        text, kind = BROKEN, "broken"
                    else:
                        text, kind = (config(ONLY_B), "B") if n % 2 else (config(ONLY_A), "A")
                    milter.write_config(text)
                    os.kill(milter.proc.pid, signal.SIGHUP)
                    reloads[kind] += 1

            thread = threading.Thread(target=reloader, daemon=True)
            counts, _, bad, elapsed = load_while(thread, stop, pool, postfix.port, a)
            failures += bad
            if not milter.running():
                failures.append(("milter", "died", milter.proc.returncode, milter.log_text()[-2000:]))
            rss1, fds1 = rss_and_fds(milter.proc.pid) if milter.running() else (0, 0)
            log = milter.log_text()
            print_load("soak", counts, elapsed)
            print("reloads: %d to A, %d to B, %d broken; milter log: %d reloaded, %d reload failed"
                  % (reloads["A"], reloads["B"], reloads["broken"], log.count("reloaded "),
                     log.count("reload failed")))
            print("at the end: RssAnon %d kB (%+.1f%%), %d open fds (%+.1f%%)"
                  % (rss1, 100.0 * (rss1 - rss0) / rss0, fds1, 100.0 * (fds1 - fds0) / fds0))
            if any(400 <= k < 500 for k in counts if isinstance(k, int)):
                failures.append(("tempfail", counts))
            if grew(rss0, rss1, 1024) or fds1 > fds0 * 1.10:
                failures.append(("growth", (rss0, rss1), (fds0, fds1)))
            if log.count("reload failed") < reloads["broken"] or (sum(reloads.values()) >= 10 and not reloads["broken"]):
                failures.append(("broken reloads not all refused", reloads, log.count("reload failed")))
        finally:
            milter.stop()
    for f in failures[:20]:
        print("FAIL:", f)
    print("soak: %s (%d problems)" % ("passed" if not failures else "FAILED", len(failures)))
    return 0 if not failures else 1


def new_lines(path, offset):
    """The whole lines appended to path since offset, and the offset after them."""
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read()
    end = data.rfind(b"\n") + 1
    return data[:end].decode(errors="replace").splitlines(), offset + end


def await_reload(milter, offset, timeout):
    """The milter's log lines about the reload just asked for, once it says how it ended."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines, offset = new_lines(milter.logfile, offset)
        seen += [line for line in lines if "reload" in line]
        if any("reloaded " in line or "reload failed" in line for line in seen):
            return seen, offset
        if not milter.running():
            break
        time.sleep(0.02)
    return seen + ["(no outcome logged within %.0f s)" % timeout], offset


def big_reloads(milter, soak_file, stop, done):
    """Every 2 s: swap soak.test's address file (A, B, every tenth broken), SIGHUP, and await
    the outcome. done gets (kind, log lines, seconds to the outcome, RSS 1 s after). A reload
    that takes longer than 2 s (under load it can) is followed at once by the next: no burst."""
    n = valid = 0
    offset = milter.log_offset()
    next_at = time.monotonic() + 2.0
    while True:
        if stop.wait(max(0.0, next_at - time.monotonic())) or not milter.running():
            return
        next_at = max(next_at + 2.0, time.monotonic())
        n += 1
        if n % 10 == 0:
            text, kind = broken_address_file(), "broken"
        else:
            valid += 1  # B, A, B, ...: the milter starts on A
            text, kind = (address_file(ONLY_B), "B") if valid % 2 else (address_file(ONLY_A), "A")
        replace_file(soak_file, text)
        t0 = time.monotonic()
        os.kill(milter.proc.pid, signal.SIGHUP)
        lines, offset = await_reload(milter, offset, 60.0)
        seconds = time.monotonic() - t0  # to the outcome in the log, not counting the wait below
        stop.wait(1.0)  # the outcome is logged before the old policy goes and memory is given back
        rss = status_kb(milter.proc.pid, "RssAnon") if milter.running() else 0
        done.append((kind, lines, seconds, rss))


def reload_problems(done):
    """Valid files taken, broken ones refused naming FILE:LINE; the problems, if any."""
    problems = []
    where = re.compile(r"%s:%d: " % (re.escape(SOAK_FILE), BROKEN_LINE))
    for i, (kind, lines, _, _) in enumerate(done):
        taken = any("reloaded " in line for line in lines)
        refused = [line for line in lines if "reload failed" in line]
        if kind == "broken" and not (refused and any(where.search(line) for line in lines)):
            problems.append(("broken reload not refused naming %s:%d" % (SOAK_FILE, BROKEN_LINE), i, lines))
        if kind != "broken" and not taken:
            problems.append(("valid reload not taken", i, kind, lines))
    return problems


def main_big(a):
    work = tempfile.mkdtemp(prefix="route-milter-soak-big-")
    os.chmod(work, 0o755)
    try:
        return soak_big(a, work)
    finally:
        # 100,000 files take a while to unlink on a busy disk (TMPDIR=/dev/shm is quicker); the log stays.
        shutil.rmtree(os.path.join(work, "addresses"), ignore_errors=True)


def soak_big(a, work):
    failures = []
    with lab.PostfixLab(milter="", extra_main={"default_process_limit": "100"}) as postfix:
        milter = lab.Milter(work, name="soak", user="postfix", start_timeout=300.0)
        try:
            t = time.monotonic()
            write_big_config(milter, work)
            print("config: %d routes, %d listed addresses in address files, written in %.1f s (%s)"
                  % (BIG_ROUTES, (BIG_ROUTES - 1) * PER_ROUTE + len(BOTH + ONLY_A), time.monotonic() - t, work),
                  flush=True)
            t = time.monotonic()
            milter.start()
            print("milter listening after %.1f s" % (time.monotonic() - t), flush=True)
            postfix.set_milter(milter.postfix_socket)
            pool = multiprocessing.Pool(a.workers)
            counts, _, bad = run_load(pool, postfix.port, 0, a.warmup, a.rcpts, a.workers, big=True)
            failures += bad
            time.sleep(2)
            pid = milter.proc.pid
            rss0, fds0 = rss_and_fds(pid)
            start_peak = status_kb(pid, "VmHWM")
            with open("/proc/%d/clear_refs" % pid, "w") as f:
                f.write("5")  # VmHWM := VmRSS, so the peak read at the end is the reloads' own
            print("after warm-up (%d sessions): RssAnon %d kB (VmHWM while starting, the mapped image with it: %d kB), "
                  "%d open fds"
                  % (a.warmup, rss0, start_peak, fds0), flush=True)

            stop = threading.Event()
            done = []
            thread = threading.Thread(target=big_reloads,
                                      args=(milter, os.path.join(work, SOAK_FILE), stop, done), daemon=True)
            counts, disputed, bad, elapsed = load_while(thread, stop, pool, postfix.port, a, big=True)
            failures += bad
            if not milter.running():
                failures.append(("milter", "died", milter.proc.returncode, milter.log_text()[-2000:]))
                rss1, fds1, peak = 0, 0, 0
            else:
                rss1, fds1 = rss_and_fds(pid)
                peak = status_kb(pid, "VmHWM")
            kinds = collections.Counter(kind for kind, _, _, _ in done)
            seconds = [s for _, _, s, _ in done] or [0.0]
            after = [rss for kind, _, _, rss in done if kind != "broken"] or [0]
            print_load("soak --big", counts, elapsed,
                       "; disputed: " + ", ".join("%s %d x%d" % (k[0], k[1], v) for k, v in sorted(disputed.items())))
            print("reloads: %d to A, %d to B, %d broken (one every %.1f s); taken %d, refused %d; "
                  "outcome logged after median %.2f s, max %.2f s"
                  % (kinds["A"], kinds["B"], kinds["broken"], elapsed / max(1, len(done)),
                     sum(any("reloaded " in line for line in lines) for _, lines, _, _ in done),
                     sum(any("reload failed" in line for line in lines) for _, lines, _, _ in done),
                     statistics.median(seconds), max(seconds)))
            # The milter's own time for each taken reload (its log line says it), against the outcome's.
            own = [float(m.group(1)) for _, lines, _, _ in done for line in lines
                   for m in [re.search(r"reloaded \S+ in (\d+\.\d+) s[: ]", line)] if m]
            if own:
                print("reload time logged by the milter: median %.2f s, max %.2f s" % (statistics.median(own), max(own)),
                      flush=True)
            print("RssAnon: after warm-up %d kB, VmHWM during the reloads (the mapped images with it) %d kB (%.2fx), "
                  "1 s after a reload median "
                  "%d kB max %d kB, at the end %d kB (%+.1f%%)"
                  % (rss0, peak, peak / rss0, statistics.median(after), max(after), rss1,
                     100.0 * (rss1 - rss0) / rss0))
            print("open fds: %d after warm-up, %d at the end (%+.1f%%)"
                  % (fds0, fds1, 100.0 * (fds1 - fds0) / fds0))
            if any(400 <= k < 500 for k in counts if isinstance(k, int)):
                failures.append(("tempfail", counts))
            if grew(rss0, rss1, 1024) or fds1 > fds0 * 1.10:
                failures.append(("growth", (rss0, rss1), (fds0, fds1)))
            if not kinds["broken"] and len(done) >= 10:
                failures.append(("no broken reload", kinds))
            if len(done) >= 2 and not all(disputed[c, code] for c in ("only-A", "only-B") for code in (250, 550)):
                failures.append(("a disputed address never changed answer", disputed))
            failures += reload_problems(done)
        finally:
            milter.stop()
    for f in failures[:20]:
        print("FAIL:", f)
    print("soak --big: %s (%d problems; milter log %s)"
          % ("passed" if not failures else "FAILED", len(failures), milter.logfile))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
