#!/usr/bin/env python3
"""make soak: route-milter under load through a real Postfix while its config is reloaded.

SESSIONS SMTP sessions (RCPTS recipients each) from WORKERS parallel clients, every reply
recorded, while the milter gets SIGHUP every second: two valid configs that disagree on a known
set of addresses, alternately, and a broken config every tenth reload. Pass when
  - no reply is a 4xx (no tempfail) and the milter never dies,
  - addresses both configs list are always accepted, those neither lists always refused,
    and the disputed ones get one of the two configs' answers,
  - RSS and open fds at the end are within 10% of their values after warm-up.

usage: soak.py [--sessions N] [--rcpts N] [--workers N] [--warmup N]
"""
import argparse
import collections
import multiprocessing
import os
import signal
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


def expected(rcpt):
    """The replies a recipient may get while either config is in force."""
    if rcpt in BOTH or rcpt in ELSEWHERE:
        return {250}
    if rcpt in NEITHER:
        return {550}
    return {250, 550}


def worker(args):
    port, first, count, rcpts = args
    everyone = BOTH + ONLY_A + ONLY_B + NEITHER + ELSEWHERE
    counts = collections.Counter()
    bad = []
    for n in range(first, first + count):
        chosen = [everyone[(n * 7 + k * 3) % len(everyone)] for k in range(rcpts)]
        try:
            s = smtplib.SMTP("127.0.0.1", port, timeout=60)
            s.ehlo("soak.client.test")
            code, msg = s.docmd("MAIL FROM:<sender%d@far.test>" % n)
            if code != 250:
                bad.append((n, "MAIL", code, msg.decode(errors="replace")))
            for r in chosen:
                code, msg = s.docmd("RCPT TO:<%s>" % r)
                counts[code] += 1
                if code not in expected(r):
                    bad.append((n, r, code, msg.decode(errors="replace")))
            s.docmd("RSET")
            s.quit()
        except (OSError, smtplib.SMTPException) as e:
            bad.append((n, "session", -1, repr(e)))
        counts["sessions"] += 1
    return counts, bad


def rss_and_fds(pid):
    rss = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return rss, len(os.listdir("/proc/%d/fd" % pid))


def run_load(pool, port, first, sessions, rcpts, workers):
    per = -(-sessions // workers)  # every worker the same share, rounded up: at least `sessions`
    jobs = [(port, first + i * per, per, rcpts) for i in range(workers)]
    counts, bad = collections.Counter(), []
    for c, b in pool.imap_unordered(worker, jobs):
        counts.update(c)
        bad.extend(b)
    return counts, bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=20000)
    ap.add_argument("--rcpts", type=int, default=5)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=2000)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="route-milter-soak-")
    os.chmod(work, 0o755)
    failures = []
    with lab.PostfixLab(milter="", extra_main={"default_process_limit": "100"}) as postfix:
        milter = lab.Milter(work, config(ONLY_A), name="soak", user="postfix")
        milter.start()
        try:
            postfix.set_milter(milter.postfix_socket)
            pool = multiprocessing.Pool(a.workers)
            counts, bad = run_load(pool, postfix.port, 0, a.warmup, a.rcpts, a.workers)
            failures += bad
            time.sleep(2)
            rss0, fds0 = rss_and_fds(milter.proc.pid)
            print("after warm-up (%d sessions): RSS %d kB, %d open fds" % (a.warmup, rss0, fds0), flush=True)

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
            t0 = time.monotonic()
            thread.start()
            counts, bad = run_load(pool, postfix.port, a.warmup, a.sessions, a.rcpts, a.workers)
            elapsed = time.monotonic() - t0
            stop.set()
            thread.join()
            pool.close()
            pool.join()
            failures += bad
            time.sleep(2)
            if not milter.running():
                failures.append(("milter", "died", milter.proc.returncode, milter.log_text()[-2000:]))
            rss1, fds1 = rss_and_fds(milter.proc.pid) if milter.running() else (0, 0)
            log = milter.log_text()
            print("soak: %d sessions, %d recipients in %.1f s: %.0f sessions/s"
                  % (counts["sessions"], sum(v for k, v in counts.items() if k != "sessions"), elapsed,
                     counts["sessions"] / elapsed))
            print("replies: " + ", ".join("%s x%d" % (k, v) for k, v in sorted(counts.items(), key=str)
                                         if k != "sessions"))
            print("reloads: %d to A, %d to B, %d broken; milter log: %d reloaded, %d reload failed"
                  % (reloads["A"], reloads["B"], reloads["broken"], log.count("reloaded "),
                     log.count("reload failed")))
            print("at the end: RSS %d kB (%+.1f%%), %d open fds (%+.1f%%)"
                  % (rss1, 100.0 * (rss1 - rss0) / rss0, fds1, 100.0 * (fds1 - fds0) / fds0))
            if any(400 <= k < 500 for k in counts if isinstance(k, int)):
                failures.append(("tempfail", counts))
            if rss1 > rss0 * 1.10 or fds1 > fds0 * 1.10:
                failures.append(("growth", (rss0, rss1), (fds0, fds1)))
            if log.count("reload failed") < reloads["broken"] or (sum(reloads.values()) >= 10 and not reloads["broken"]):
                failures.append(("broken reloads not all refused", reloads, log.count("reload failed")))
        finally:
            milter.stop()
    for f in failures[:20]:
        print("FAIL:", f)
    print("soak: %s (%d problems)" % ("passed" if not failures else "FAILED", len(failures)))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
