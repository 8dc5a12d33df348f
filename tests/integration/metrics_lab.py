"""Scraping route-milter's /metrics in tests: fetch, check with the real promtool, read values.

    text = scrape(port)                  # GET /metrics over real HTTP
    promtool_check(text)                 # `promtool check metrics` (Debian's prometheus package)
    samples = parse(text)                # {(name, frozenset(labels.items())): value}
    value(samples, "route_milter_decisions_total", rule="not-listed", route="backup.test", mode="enforce")
"""

import http.client
import re
import shutil
import subprocess

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')


def scrape(port, host="127.0.0.1", path="/metrics", timeout=10):
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read().decode()
        if r.status != 200:
            raise AssertionError("GET %s: %d %s\n%s" % (path, r.status, r.reason, body))
        ctype = r.getheader("Content-Type", "")
        if not ctype.startswith("text/plain; version=0.0.4"):
            raise AssertionError("GET %s: Content-Type %r" % (path, ctype))
        return body
    finally:
        conn.close()


def promtool_check(text):
    """Runs `promtool check metrics` on text; raises with its output when it objects."""
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise AssertionError("promtool check metrics failed (%d):\n%s%s\n--- page ---\n%s"
                             % (p.returncode, p.stdout, p.stderr, text))
    return p.stdout + p.stderr


def _unescape(v):
    return re.sub(r'\\(.)', lambda m: "\n" if m.group(1) == "n" else m.group(1), v)


def parse(text):
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            raise AssertionError("not a sample line: %r" % line)
        labels = frozenset((k, _unescape(v)) for k, v in _LABEL.findall(m.group(2) or ""))
        samples[(m.group(1), labels)] = float(m.group(3))
    return samples


def value(samples, name, **labels):
    """The sample's value; 0 for a counter series not (yet) shown."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def series(samples, name):
    """Every (labels dict, value) of a metric."""
    return [(dict(l), v) for (n, l), v in samples.items() if n == name]
