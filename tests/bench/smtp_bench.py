#!/usr/bin/env python3
"""SMTP throughput through a real Postfix on loopback: no milter vs route-milter vs a no-op milter,
and route-milter with metrics off and on (scraped every 0.5 s while it runs).

smtp-source sends MESSAGES messages in SESSIONS parallel sessions, RCPTS recipients each, into
a private Postfix whose transports all discard. The modes alternate within every round (so
machine noise hits them alike); the report gives per-mode medians and ratios to "no milter".
The recipients are in a listed route domain, so route-milter does its full lookup for each.

usage: smtp_bench.py BUILD_DIR [--rounds N] [--messages N] [--sessions N] [--rcpts N]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import lab  # noqa: E402
import metrics_lab  # noqa: E402

ROUTE_CONF = """
milter = { user = "postfix"; };
routes = ( { domain = "bench.example"; treat_recipient_as = "local"; deliver_to = "listed";
             addresses = [ %s ]; } );
"""


def run_source(port, messages, sessions, rcpts):
    cmd = ["smtp-source", "-s", str(sessions), "-m", str(messages), "-r", str(rcpts), "-l", "300",
           "-f", "sender@far.example", "-t", "user@bench.example", "127.0.0.1:%d" % port]
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    elapsed = time.monotonic() - t0
    if r.returncode != 0 or r.stderr.strip():
        raise SystemExit("smtp-source failed (%d): %s" % (r.returncode, (r.stdout + r.stderr)[-2000:]))
    return messages / elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--sessions", type=int, default=16)
    ap.add_argument("--rcpts", type=int, default=5)
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    work = tempfile.mkdtemp(prefix="route-milter-bench-")
    os.chmod(work, 0o755)
    listed = ", ".join('"%suser@bench.example"' % p for p in [""] + [str(i) for i in range(1, a.rcpts + 1)])
    procs = []
    try:
        with lab.PostfixLab(milter="") as postfix:
            rm_unix = lab.Milter(work, ROUTE_CONF % listed, name="rm-unix", user="postfix",
                                 binary=os.path.join(build, "route-milter"))
            inet_port = lab.free_port()
            rm_inet = lab.Milter(work, ROUTE_CONF % listed, name="rm-inet", user="postfix",
                                 socket_spec="inet:%d@127.0.0.1" % inet_port,
                                 binary=os.path.join(build, "route-milter"))
            metrics_port = lab.free_port()
            rm_metrics = lab.Milter(work, ROUTE_CONF % listed + 'metrics = { listen = "inet:%d"; };\n' % metrics_port,
                                    name="rm-metrics", user="postfix", binary=os.path.join(build, "route-milter"))
            for m in (rm_unix, rm_inet, rm_metrics):
                m.start()
                procs.append(m)
            # A scraper far keener than Prometheus' usual 15 s, so that any cost shows.
            scraping = threading.Event()
            stopped = threading.Event()
            scrapes = [0]

            def scraper():
                while not stopped.is_set():
                    if scraping.is_set():
                        metrics_lab.scrape(metrics_port)
                        scrapes[0] += 1
                    stopped.wait(0.5)
            scraper_thread = threading.Thread(target=scraper, daemon=True)
            scraper_thread.start()
            noop_sock = os.path.join(work, "noop.sock")
            noop_port = lab.free_port()
            for spec in ("unix:" + noop_sock, "inet:%d@127.0.0.1" % noop_port):
                procs.append(subprocess.Popen([os.path.join(build, "noop-milter"), spec],
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            lab.wait_for(lambda: lab.unix_socket_accepts(noop_sock) and lab.port_open("127.0.0.1", noop_port),
                         10, what="no-op milters")
            modes = [
                ("no milter", ""),
                ("no-op milter, unix", "unix:" + noop_sock),
                ("route-milter, unix", rm_unix.postfix_socket),
                ("rm + metrics, unix", rm_metrics.postfix_socket),
                ("no-op milter, inet", "inet:127.0.0.1:%d" % noop_port),
                ("route-milter, inet", rm_inet.postfix_socket),
            ]
            rates = {name: [] for name, _ in modes}
            print("smtp-source: %d messages x %d recipients, %d sessions, %d rounds; modes alternate each round"
                  % (a.messages, a.rcpts, a.sessions, a.rounds), flush=True)
            for rnd in range(a.rounds):
                for name, spec in modes:
                    postfix.set_milter(spec)
                    run_source(postfix.port, 200, a.sessions, a.rcpts)  # warm the new smtpd processes
                    if spec == rm_metrics.postfix_socket:
                        scraping.set()
                    rate = run_source(postfix.port, a.messages, a.sessions, a.rcpts)
                    scraping.clear()
                    rates[name].append(rate)
                    print("  round %d  %-20s %7.1f msgs/s" % (rnd + 1, name, rate), flush=True)
            base = statistics.median(rates["no milter"])
            print("SMTP throughput (median of %d; ratio to no milter):" % a.rounds)
            for name, _ in modes:
                med = statistics.median(rates[name])
                print("  %-20s %7.1f msgs/s  %.2fx" % (name, med, med / base))
            for kind in ("unix", "inet"):
                rm = statistics.median(rates["route-milter, %s" % kind])
                noop = statistics.median(rates["no-op milter, %s" % kind])
                print("  route-milter / no-op milter on %s: %.2f" % (kind, rm / noop))
            on = statistics.median(rates["rm + metrics, unix"])
            off = statistics.median(rates["route-milter, unix"])
            print("  route-milter metrics on / off (unix): %.2f  (%d scrapes during the runs)" % (on / off, scrapes[0]))
            counted = metrics_lab.parse(metrics_lab.scrape(metrics_port))
            decided = metrics_lab.value(counted, "route_milter_decisions_total", rule="no-objection",
                                        route="bench.example", mode="enforce")
            expected = a.rounds * (a.messages + 200) * a.rcpts
            print("  decisions counted with metrics on: %d (RCPTs sent: %d)" % (decided, expected))
            if decided != expected:
                raise SystemExit("metrics counted %d decisions, %d RCPTs were sent" % (decided, expected))
            rejects = sum(m.log_text().count("reject:") for m in (rm_unix, rm_inet, rm_metrics))
            if rejects:
                raise SystemExit("route-milter rejected %d recipients during the bench" % rejects)
    finally:
        for p in procs:
            if isinstance(p, lab.Milter):
                p.stop()
            else:
                p.terminate()
                p.wait(timeout=10)
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
