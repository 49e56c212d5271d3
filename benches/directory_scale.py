#!/usr/bin/env python3
"""Directory scale (issue 10): the same measurements on a 10-user directory and on one of
100,000 imported users with 1,000,000 history rows, side by side, in one run.

    python3 benches/directory_scale.py [--users 100000] [--history 1000000] [BINARY]

BINARY defaults to $CARGO_TARGET_DIR (else target)/release/hybridauth. Reports: import time, serve start time and
steady RSS; warm RADIUS and LDAP bind throughput (on-prem) and warm cloud LDAP binds (a cloud
decision's store work: history lookups) as ratios of the small directory's; p50 of indexed
searches; a paged subtree search over every user (entries/s, RSS growth). Every loop is bounded
in count and time and targets loopback only; load generators sleep while they wait.
"""
import argparse
import csv
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

SECRET = "bench-secret"
PW = "Winter2026!"


def free(kind):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Lab:
    def __init__(self, binary, work, name):
        self.binary, self.dir = binary, os.path.join(work, name)
        os.makedirs(self.dir)
        self.radius, self.ldap, self.cloud = free(socket.SOCK_DGRAM), free(socket.SOCK_STREAM), free(socket.SOCK_STREAM)
        self.config = os.path.join(self.dir, "hybridauth.toml")
        with open(self.config, "w") as f:
            f.write(f"""[store]
path = "{self.dir}/store.sqlite3"
[clock]
mode = "simulated"
[admin]
listen = ""
[radius]
listen = ["127.0.0.1:{self.radius}"]
accounting_listen = []
reject_delay = "0s"
[[radius.clients]]
name = "bench"
network = "127.0.0.1/32"
secret = "{SECRET}"
[[ldap.listeners]]
address = "127.0.0.1:{self.ldap}"
[[ldap.listeners]]
address = "127.0.0.1:{self.cloud}"
endpoint = "cloud"
""")
        self.proc = None

    def cli(self, *args):
        return subprocess.run([self.binary, "--config", self.config, *args], check=True, capture_output=True, text=True)

    def serve(self):
        t0 = time.monotonic()
        self.log = open(os.path.join(self.dir, "serve.log"), "w+")
        self.proc = subprocess.Popen([self.binary, "--config", self.config, "serve"], stderr=self.log, stdout=subprocess.DEVNULL)
        deadline = t0 + 120
        while time.monotonic() < deadline:
            self.log.seek(0)
            if "hybridauth ready" in self.log.read():
                return time.monotonic() - t0
            if self.proc.poll() is not None:
                raise SystemExit("serve exited: " + open(self.log.name).read())
            time.sleep(0.01)
        raise SystemExit("serve not ready in 120 s")

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=20)

    def load(self, *args):
        out = subprocess.run([self.binary, "load", *args, "--json"], check=True, capture_output=True, text=True)
        return json.loads(out.stdout)["rate"]


def seed_hash(binary, work):
    lab = Lab(binary, work, "seed")
    lab.cli("user", "add", "seed", "--password", PW)
    db = sqlite3.connect(os.path.join(lab.dir, "store.sqlite3"))
    (h,) = db.execute("SELECT password_hash FROM users WHERE sam = 'seed'").fetchone()
    db.close()
    return h


def write_csv(path, n, phc):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sam", "password_hash", "mail", "groups"])
        for i in range(n):
            w.writerow([f"u{i:06d}", phc, f"u{i:06d}@contoso.com", "VPN Users" if i % 10 == 0 else ""])


def grow_history(store, target):
    """Copies of users' own snapshots (the state they describe stays the same) until the
    history holds `target` rows: what years of changes leave behind. The measured user
    (u000001) keeps its one snapshot in both directories, so that the comparison is of the
    history's size, not of that user's own past."""
    db = sqlite3.connect(store)
    (have,) = db.execute("SELECT COUNT(*) FROM history").fetchone()
    while have < target:
        n = min(target - have, have)
        db.execute("""INSERT INTO history (at, kind, user_id, snapshot, sam_lc, upn_lc, mail_lc)
                      SELECT at, kind, user_id, snapshot, sam_lc, upn_lc, mail_lc FROM history
                      WHERE kind = 'user' AND sam_lc != 'u000001' ORDER BY seq LIMIT ?""", (n,))
        have += n
    db.commit()
    db.close()
    return have


def tlv(tag, body):
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    ln = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(ln)]) + ln + body


def integer(v):
    return tlv(0x02, v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big"))


def octets(s):
    return tlv(0x04, s.encode())


def message(msgid, op):
    return tlv(0x30, integer(msgid) + op)


def eq_filter(attr, value):
    return tlv(0xA3, octets(attr) + octets(value))


def search_request(base, flt, attrs):
    body = (octets(base) + tlv(0x0A, b"\x02") + tlv(0x0A, b"\x00") + integer(0) + integer(0)
            + tlv(0x01, b"\x00") + flt + tlv(0x30, b"".join(octets(a) for a in attrs)))
    return tlv(0x63, body)


def read_message(sock, buf):
    """One BER-framed LDAP message from the socket: (tag of its protocolOp, rest of buffer)."""
    while True:
        if len(buf) >= 2:
            first = buf[1]
            if first < 0x80:
                hdr, n = 2, first
            else:
                k = first & 0x7F
                if len(buf) >= 2 + k:
                    hdr, n = 2 + k, int.from_bytes(buf[2:2 + k], "big")
                else:
                    hdr = None
            if hdr is not None and len(buf) >= hdr + n:
                body = buf[hdr:hdr + n]
                idlen = body[1]
                return body[2 + idlen], buf[hdr + n:]
        chunk = sock.recv(65536)
        if not chunk:
            raise SystemExit("connection closed")
        buf += chunk


def search_p50(port, filters, rounds):
    """The server's answer time for one search, measured with a client that costs nothing:
    requests encoded once, responses only framed (python ldap3 spends about 1 ms per search
    decoding, which would hide the server)."""
    sock = socket.create_connection(("127.0.0.1", port))
    bind = tlv(0x60, integer(3) + octets("u000001") + tlv(0x80, PW.encode()))
    sock.sendall(message(1, bind))
    tag, buf = read_message(sock, b"")
    assert tag == 0x61, tag
    requests = [message(i + 2, search_request("DC=contoso,DC=com", f, ["sAMAccountName"])) for i, f in enumerate(filters)]
    times = []
    for i in range(rounds):
        t0 = time.perf_counter()
        sock.sendall(requests[i % len(requests)])
        entries = 0
        while True:
            tag, buf = read_message(sock, buf)
            if tag == 0x64:
                entries += 1
            elif tag == 0x65:
                break
        times.append((time.perf_counter() - t0) * 1000)
        assert entries == 1, entries
    sock.close()
    return statistics.median(times)


def paged_all(port, pid, budget_s):
    """Every user through ldapsearch (C, cheap to parse) with 1000-entry pages; RSS sampled."""
    import threading
    rss0 = rss_kib(pid)
    peak = [rss0]
    done = threading.Event()

    def sample():
        while not done.wait(0.05):
            peak[0] = max(peak[0], rss_kib(pid))

    threading.Thread(target=sample, daemon=True).start()
    t0 = time.monotonic()
    p = subprocess.run(["ldapsearch", "-x", "-LLL", "-H", f"ldap://127.0.0.1:{port}", "-D", "u000001", "-w", PW,
                        "-b", "DC=contoso,DC=com", "-E", "pr=1000/noprompt", "(objectClass=user)", "sAMAccountName", "mail"],
                       capture_output=True, text=True, timeout=budget_s)
    dt = time.monotonic() - t0
    done.set()
    n = p.stdout.count("\ndn: ") + (1 if p.stdout.startswith("dn: ") else 0)
    return n, n / dt, (peak[0] - rss0) / 1024


def measure(lab, users, requests):
    r = {}
    login = "u000001"
    lab.cli("sync", "now")  # the cloud copy carries every user
    r["ready_s"] = lab.serve()
    try:
        args = ["--secret", SECRET, "--user", login, "--password", PW]
        lab.load("radius", "--server", f"127.0.0.1:{lab.radius}", *args, "--requests", "20")
        lab.load("ldap", "--server", f"127.0.0.1:{lab.ldap}", "--bind-dn", login, "--password", PW, "--requests", "20")
        lab.load("ldap", "--server", f"127.0.0.1:{lab.cloud}", "--bind-dn", f"{login}@contoso.com", "--password", PW, "--requests", "20")
        r["radius"] = lab.load("radius", "--server", f"127.0.0.1:{lab.radius}", *args, "--requests", str(requests), "--concurrency", "32")
        r["ldap"] = lab.load("ldap", "--server", f"127.0.0.1:{lab.ldap}", "--bind-dn", login, "--password", PW, "--requests", str(requests), "--concurrency", "32")
        r["cloud"] = lab.load("ldap", "--server", f"127.0.0.1:{lab.cloud}", "--bind-dn", f"{login}@contoso.com", "--password", PW, "--requests", str(requests), "--concurrency", "32")
        r["rss_mib"] = rss_kib(lab.proc.pid) / 1024
        last = f"u{users - 1:06d}"
        r["sam_p50"] = search_p50(lab.ldap, [eq_filter("sAMAccountName", last), eq_filter("sAMAccountName", "u000002")], 1000)
        mail = tlv(0xA0, eq_filter("objectClass", "user") + eq_filter("mail", f"{last}@contoso.com"))
        r["mail_p50"] = search_p50(lab.ldap, [mail], 1000)
        r["paged_n"], r["paged_rate"], r["paged_rss"] = paged_all(lab.ldap, lab.proc.pid, 120)
    finally:
        lab.stop()
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary", nargs="?", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release", "hybridauth"))
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--history", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=5000)
    a = ap.parse_args()
    binary = os.path.abspath(a.binary)
    with tempfile.TemporaryDirectory(prefix="hybridauth-scale.") as work:
        phc = seed_hash(binary, work)
        small, large = Lab(binary, work, "small"), Lab(binary, work, "large")
        for lab, n in ((small, 10), (large, a.users)):
            path = os.path.join(lab.dir, "users.csv")
            write_csv(path, n, phc)
            lab.cli("clock", "set", "2026-01-05T10:00:00Z")
            t0 = time.monotonic()
            lab.cli("user", "import", path)
            lab.import_s = time.monotonic() - t0
        small_hist = grow_history(os.path.join(small.dir, "store.sqlite3"), 1000)
        large_hist = grow_history(os.path.join(large.dir, "store.sqlite3"), a.history)
        s = measure(small, 10, a.requests)
        l = measure(large, a.users, a.requests)
    print(f"\ndirectory scale: {a.users} users / {large_hist} history rows against 10 users / {small_hist} rows\n")
    print(f"import of {a.users} pre-hashed users: {large.import_s:.1f} s (target <= 30 s)")
    print(f"serve ready: {l['ready_s']:.2f} s (small: {s['ready_s']:.2f} s; target <= 2 s); RSS after load {l['rss_mib']:.0f} MiB (small: {s['rss_mib']:.0f} MiB; target <= 256)")
    print(f"{'':34} {'large':>10} {'small':>10}  ratio")
    for name, key in (("warm RADIUS accepts/s", "radius"), ("warm LDAP binds/s (on-prem)", "ldap")):
        print(f"{name:34} {l[key]:>10.0f} {s[key]:>10.0f}  {l[key] / s[key]:5.2f}  (target >= 0.95)")
    print(f"{'warm LDAP binds/s (cloud)':34} {l['cloud']:>10.0f} {s['cloud']:>10.0f}  {l['cloud'] / s['cloud']:5.2f}"
          f"  (a cloud decision costs {s['cloud'] / l['cloud']:.2f}x; target: its store work <= 1.2x)")
    for name, key in (("(sAMAccountName=x) p50 ms", "sam_p50"), ("(&(objectClass=user)(mail=x)) p50 ms", "mail_p50")):
        print(f"{name:34} {l[key]:>10.2f} {s[key]:>10.2f}  (target <= 1 ms)")
    print(f"paged subtree search: {l['paged_n']} entries at {l['paged_rate']:.0f}/s (target >= 20000/s), RSS +{l['paged_rss']:.1f} MiB (target <= 32)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
