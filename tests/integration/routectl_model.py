#!/usr/bin/python3
"""Executable model of `routectl postfix` and `routectl retry` (NOT the product).

Used only to validate the integration lab (test_routectl.py) independently of
the C++ code:  ROUTECTL=tests/integration/routectl_model.py tests/integration/run.sh
run.sh never uses it by default.  It understands just the libconfig subset the
tests write and checks just a few settings (port range, retry numbers).
"""

import json
import os
import re
import subprocess
import sys
import tempfile

EX_CONFIG = 78


# ---------------------------------------------------------------- tiny libconfig reader
class ConfigError(Exception):
    pass


TOKEN = re.compile(r'\s+|#[^\n]*|//[^\n]*|/\*.*?\*/|"(?:[^"\\]|\\.)*"|-?\d+|[A-Za-z_*][A-Za-z0-9_*\-]*|[=:;,{}()\[\]]',
                   re.S)


def tokenize(text, path):
    pos, line, out = 0, 1, []
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m:
            raise ConfigError("%s:%d: syntax error" % (path, line))
        tok = m.group(0)
        if not (tok.isspace() or tok.startswith(("#", "//", "/*"))):
            out.append((tok, line))
        line += tok.count("\n")
        pos = m.end()
    return out


class Node:
    def __init__(self, value, line):
        self.value, self.line = value, line


def parse(text, path):
    toks = tokenize(text, path)
    i = [0]

    def peek():
        return toks[i[0]] if i[0] < len(toks) else (None, toks[-1][1] if toks else 1)

    def take(expect=None):
        tok, line = peek()
        if tok is None or (expect and tok != expect):
            raise ConfigError("%s:%d: syntax error" % (path, line))
        i[0] += 1
        return tok, line

    def value():
        tok, line = take()
        if tok == "{":
            return Node(settings("}"), line)
        if tok in "([":
            close = ")" if tok == "(" else "]"
            items = []
            while peek()[0] != close:
                items.append(value())
                if peek()[0] == ",":
                    take()
            take(close)
            return Node(items, line)
        if tok.startswith('"'):
            s = bytes(tok[1:-1], "utf-8").decode("unicode_escape")
            while peek()[0] and peek()[0].startswith('"'):
                s += bytes(take()[0][1:-1], "utf-8").decode("unicode_escape")
            return Node(s, line)
        if re.fullmatch(r"-?\d+", tok):
            return Node(int(tok), line)
        if tok in ("true", "false"):
            return Node(tok == "true", line)
        raise ConfigError("%s:%d: syntax error" % (path, line))

    def settings(close):
        d = {}
        while peek()[0] != close:
            name, line = take()
            if peek()[0] not in ("=", ":"):
                raise ConfigError("%s:%d: syntax error" % (path, line))
            take()
            d[name] = value()
            d[name].line = line
            if peek()[0] in (";", ","):
                take()
        if close is not None:
            take(close)
        return d

    return settings(None)


def load(path):
    with open(path) as f:
        root = parse(f.read(), path)
    errors, routes = [], []
    for n, node in enumerate(root.get("routes", Node([], 0)).value):
        r = {k: v.value for k, v in node.value.items()}
        r["_line"] = node.line
        for key, lo, hi in (("port", 1, 65535), ("retries", 0, 1000), ("retry_minutes", 1, 10080)):
            if key in r and not lo <= r[key] <= hi:
                errors.append("%s:%d: routes[%d].%s: out of range %d..%d (%d)"
                              % (path, node.value[key].line, n, key, lo, hi, r[key]))
        if "auth" in r:
            r["auth"] = {k: v.value for k, v in r["auth"].items()}
        r.setdefault("security", "none")
        r.setdefault("port", 465 if r["security"] == "tls" else 25)
        r.setdefault("treat_recipient_as", "external")
        r.setdefault("deliver_to", "all")
        r.setdefault("addresses", [])
        r["addresses"] = [a.value.lower() for a in r["addresses"]]
        r.setdefault("retries", 4)
        r.setdefault("retry_minutes", 60)
        r["domain"] = r["domain"].lower()
        routes.append(r)
    milter = root.get("milter", Node({}, 0)).value
    socket = milter["socket"].value if "socket" in milter else "unix:/run/route-milter/route-milter.sock"
    if errors:
        raise ConfigError("\n".join(errors))
    return routes, socket


# ---------------------------------------------------------------- routectl postfix
def nexthop(r):
    h = r["host"]
    return "%s:%d" % (h if h.startswith("[") else "[%s]" % h, r["port"])


def render(routes, socket, out):
    transport, sasl, tls, rdom, rdom_re, rrcpt, rrcpt_re = ({}, {}, {}, {}, {}, {}, {})
    need_smtps = False
    for r in routes:
        d = r["domain"]
        key = "*" if d == "*" else ("." + d[2:] if d.startswith("*.") else d)
        if "host" in r:
            hop = nexthop(r)
            if r["security"] == "tls":
                need_smtps = True
                transport[key] = "route-smtps:" + hop
            else:
                transport[key] = "smtp:" + hop
            tls[hop] = {"none": "none", "starttls": "may"}.get(r["security"], "encrypt")
            if "auth" in r:
                sasl[hop] = "%s:%s" % (r["auth"]["user"], r["auth"]["password"])
        elif "*" in transport or any(x["domain"] == "*" for x in routes):
            transport[key] = "smtp:"
        if r["treat_recipient_as"] == "local" and d != "*":
            if d.startswith("*."):
                rx = r"/\.%s$/" % re.escape(d[2:])
                rdom_re[rx] = "OK"
                if r["deliver_to"] == "all":
                    rrcpt_re[r"/@.+\.%s$/" % re.escape(d[2:])] = "OK"
                else:
                    for a in r["addresses"]:
                        rrcpt[a] = "OK"
            else:
                rdom[d] = "OK"
                if r["deliver_to"] == "all":
                    rrcpt["@" + d] = "OK"
                else:
                    for a in r["addresses"]:
                        rrcpt[a] = "OK"

    def table(d):
        return "".join("%s %s\n" % (k, d[k]) for k in sorted(d))

    longest = max([r["retries"] * r["retry_minutes"] for r in routes] + [5 * 1440])
    files = {
        "transport": (table(transport), 0o644, True),
        "sasl_passwd": (table(sasl), 0o600, True),
        "tls_policy": (table(tls), 0o644, True),
        "relay_domains": (table(rdom), 0o644, True),
        "relay_domains.regexp": (table(rdom_re), 0o644, False),
        "relay_recipients": (table(rrcpt), 0o644, True),
        "relay_recipients.regexp": (table(rrcpt_re), 0o644, False),
        "master.cf.snippet": ("# route-milter transports\n" + (
            "route-smtps unix  -       -       n       -       -       smtp\n"
            "  -o smtp_tls_wrappermode=yes\n  -o smtp_tls_security_level=encrypt\n" if need_smtps else ""),
            0o644, False),
    }
    sock = socket
    if sock.startswith("inet:"):
        port, _, host = sock[5:].partition("@")
        sock = "inet:%s:%s" % (host or "127.0.0.1", port)
    main = [
        ("transport_maps", "hash:%s/transport" % out),
        ("relay_domains", "hash:%s/relay_domains, regexp:%s/relay_domains.regexp" % (out, out)),
        ("relay_recipient_maps", "hash:%s/relay_recipients, regexp:%s/relay_recipients.regexp" % (out, out)),
        ("smtp_sasl_auth_enable", "yes"),
        ("smtp_sasl_password_maps", "hash:%s/sasl_passwd" % out),
        ("smtp_sasl_security_options", "noanonymous"),
        ("smtp_sasl_tls_security_options", "noanonymous"),
        ("smtp_tls_policy_maps", "hash:%s/tls_policy" % out),
        ("smtpd_milters", sock),
        ("milter_default_action", "tempfail"),
        ("milter_protocol", "6"),
        ("maximal_queue_lifetime", "%dm" % (longest + 60)),
        ("bounce_queue_lifetime", "%dm" % (longest + 60)),
    ]
    files["main.cf.snippet"] = ("# route-milter\n" + "".join("%s = %s\n" % kv for kv in main), 0o644, False)
    return files


def cmd_postfix(args):
    conf = args[args.index("-c") + 1]
    out = os.path.abspath(args[args.index("-o") + 1])
    pf = args[args.index("--postfix-config") + 1] if "--postfix-config" in args else None
    try:
        routes, socket = load(conf)
    except ConfigError as e:
        for line in str(e).splitlines():
            print("routectl: error: " + line, file=sys.stderr)
        return EX_CONFIG
    os.makedirs(out, exist_ok=True)
    for name, (text, mode, hashed) in render(routes, socket, out).items():
        path = os.path.join(out, name)
        changed = True
        try:
            with open(path) as f:
                changed = f.read() != text
        except FileNotFoundError:
            pass
        if changed:
            fd, tmp = tempfile.mkstemp(dir=out, prefix="." + name)
            with os.fdopen(fd, "w") as f:
                f.write(text)
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        if hashed and "--postmap" in args and (changed or not os.path.exists(path + ".db")):
            subprocess.run(["postmap"] + (["-c", pf] if pf else []) + [path], check=True)
    return 0


# ---------------------------------------------------------------- routectl retry
def route_for(routes, address):
    dom = address.rsplit("@", 1)[-1].lower()
    for r in routes:
        if r["domain"] == dom:
            return r
    best = None
    for r in routes:
        if r["domain"].startswith("*.") and dom.endswith(r["domain"][1:]):
            if best is None or len(r["domain"]) > len(best["domain"]):
                best = r
    return best or next((r for r in routes if r["domain"] == "*"), None)


def cmd_retry(args):
    conf = args[args.index("-c") + 1]
    pf = args[args.index("--postfix-config") + 1] if "--postfix-config" in args else None
    state_path = args[args.index("--state") + 1] if "--state" in args else "/var/lib/route-milter/retry-state.json"
    import time
    now = int(args[args.index("--now") + 1]) if "--now" in args else int(time.time())
    dry = "--dry-run" in args
    try:
        routes, _ = load(conf)
    except ConfigError as e:
        print(e, file=sys.stderr)
        return EX_CONFIG
    c = ["-c", pf] if pf else []
    q = subprocess.run(["postqueue"] + c + ["-j"], capture_output=True, text=True, check=True).stdout
    try:
        with open(state_path) as f:
            state = json.load(f)
        assert isinstance(state, dict)
    except (OSError, ValueError, AssertionError):
        state = {}
    new_state = {}
    for line in q.splitlines():
        m = json.loads(line)
        if m["queue_name"] != "deferred":
            continue
        rs = [route_for(routes, r["address"]) for r in m["recipients"]]
        if not rs or None in rs:
            continue
        r = max(rs, key=lambda x: x["retries"] * x["retry_minutes"])
        qid = m["queue_id"]
        rec = state.get(qid)
        if not rec or rec.get("arrival_time") != m["arrival_time"]:
            rec = {"arrival_time": m["arrival_time"], "attempts": 0, "last_attempt": 0}
        rec = dict(rec)
        M = r["retry_minutes"] * 60
        if rec["attempts"] < r["retries"]:
            due = max(m["arrival_time"] + (rec["attempts"] + 1) * M,
                      rec["last_attempt"] + M if rec["last_attempt"] else 0)
            if now >= due:
                rec["attempts"] += 1
                rec["last_attempt"] = now
                print("kick %s (attempt %d of %d, route %s)" % (qid, rec["attempts"], r["retries"], r["domain"]))
                if not dry:
                    subprocess.run(["postqueue"] + c + ["-i", qid], check=True)
        elif now >= rec["last_attempt"] + 60:
            print("expire %s (%d retries used, route %s)" % (qid, rec["attempts"], r["domain"]))
            if not dry:
                subprocess.run(["postsuper"] + c + ["-e", qid], check=True, capture_output=True)
                subprocess.run(["postqueue"] + c + ["-i", qid], check=True)
            continue
        new_state[qid] = rec
    if not dry:
        with open(state_path + ".tmp", "w") as f:
            json.dump(new_state, f, sort_keys=True)
        os.replace(state_path + ".tmp", state_path)
    return 0


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print("usage: routectl postfix -c CONF -o DIR [--postmap] [--postfix-config DIR]\n"
              "       routectl retry -c CONF [--postfix-config DIR] [--state FILE] [--dry-run] [--now EPOCH]")
        return 0
    return {"postfix": cmd_postfix, "retry": cmd_retry}[argv[1]](argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
