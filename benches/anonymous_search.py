#!/usr/bin/env python3
"""Anonymous-search amplification, side by side (issue 8, item 9).

A refused anonymous LDAP search must cost O(1): authorisation before any directory read. This
starts `hybridauth serve` (any build: pass several to compare them in one run) on a directory of
N users, then measures
  1. the latency of refused anonymous searches, one at a time;
  2. RADIUS PAP latency (production Argon2) alone, and while 4 clients loop anonymous searches.
Every loop is bounded in count and time, and targets loopback only. The load clients wait on
their sockets (they sleep while they wait), so they do not eat the server's cores.

    python3 benches/anonymous_search.py --users 20000 target/debug/hybridauth [OLD_BINARY ...]
"""
import argparse
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SECRET = "bench-secret"


def free(kind):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def seed(binary, config, store, users):
    """One real user through the CLI, then N copies of its row under other names."""
    subprocess.run([binary, "--config", config, "user", "add", "alice", "--password", "Winter2026!"], check=True, capture_output=True)
    db = sqlite3.connect(store)
    cols = [r[1] for r in db.execute("PRAGMA table_info(users)") if r[1] != "id"]
    select = ", ".join({"sam": "'u' || n", "sam_lc": "'u' || n", "upn": "'u' || n || '@contoso.com'",
                        "upn_lc": "'u' || n || '@contoso.com'", "display_name": "'User ' || n"}.get(c, c) for c in cols)
    db.execute("CREATE TEMP TABLE seq (n INTEGER)")
    db.executemany("INSERT INTO seq VALUES (?)", [(i,) for i in range(users)])
    db.execute(f"INSERT INTO users ({', '.join(cols)}) SELECT {select} FROM users, seq WHERE users.sam = 'alice'")
    db.commit()
    db.close()


def run(binary, users, searches, radius_requests):
    import ldap3
    import pyrad.client
    import pyrad.dictionary
    import pyrad.packet

    work = tempfile.mkdtemp(prefix="hybridauth-bench-")
    store = os.path.join(work, "store.sqlite3")
    radius, ldap = free(socket.SOCK_DGRAM), free(socket.SOCK_STREAM)
    config = os.path.join(work, "hybridauth.toml")
    with open(config, "w") as f:
        f.write(f'''
[store]
path = "{store}"
[admin]
listen = ""
[radius]
listen = ["127.0.0.1:{radius}"]
accounting_listen = []
[[radius.clients]]
name = "bench"
network = "127.0.0.1/32"
secret = "{SECRET}"
require_message_authenticator = false
[[ldap.listeners]]
address = "127.0.0.1:{ldap}"
''')
    seed(binary, config, store, users)
    log = open(os.path.join(work, "serve.log"), "w")
    proc = subprocess.Popen([binary, "--config", config, "serve"], stdout=log, stderr=log)
    try:
        for _ in range(400):
            if "hybridauth ready" in open(os.path.join(work, "serve.log")).read():
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("server did not start")
        server = ldap3.Server("127.0.0.1", port=ldap, get_info=ldap3.NONE)

        def refused_search(conn):
            t = time.perf_counter()
            conn.search("DC=contoso,DC=com", "(sAMAccountName=u1)")
            assert conn.result["result"] == 50, conn.result
            return time.perf_counter() - t

        conn = ldap3.Connection(server, auto_bind=True)
        lat = [refused_search(conn) for _ in range(searches)]
        conn.unbind()

        client = pyrad.client.Client(server="127.0.0.1", authport=radius, secret=SECRET.encode(),
                                     dict=pyrad.dictionary.Dictionary(os.path.join(HERE, "..", "tests", "interop", "dictionary")))
        client.timeout, client.retries = 10, 1

        def radius_latencies(n):
            out = []
            for _ in range(n):
                req = client.CreateAuthPacket(code=pyrad.packet.AccessRequest, User_Name="alice")
                req["User-Password"] = req.PwCrypt("Winter2026!")
                t = time.perf_counter()
                reply = client.SendPacket(req)
                out.append(time.perf_counter() - t)
                assert reply.code == pyrad.packet.AccessAccept
            return out

        radius_latencies(5)  # warm-up
        alone = radius_latencies(radius_requests)
        stop = threading.Event()
        counts = []

        def flood():
            c = ldap3.Connection(server, auto_bind=True)
            n = 0
            deadline = time.time() + 120
            while not stop.is_set() and time.time() < deadline:
                refused_search(c)
                n += 1
            counts.append(n)

        threads = [threading.Thread(target=flood) for _ in range(4)]
        t0 = time.time()
        for t in threads:
            t.start()
        loaded = radius_latencies(radius_requests)
        stop.set()
        for t in threads:
            t.join()
        elapsed = time.time() - t0
        return {
            "search_ms": statistics.mean(lat) * 1000,
            "search_p50_ms": statistics.median(lat) * 1000,
            "radius_alone_p50_ms": statistics.median(alone) * 1000,
            "radius_loaded_p50_ms": statistics.median(loaded) * 1000,
            "searches_per_s": sum(counts) / elapsed,
        }
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binaries", nargs="+")
    ap.add_argument("--users", type=int, default=20000)
    ap.add_argument("--searches", type=int, default=100)
    ap.add_argument("--radius-requests", type=int, default=40)
    a = ap.parse_args()
    print(f"{a.users} users; {a.searches} refused anonymous searches; {a.radius_requests} RADIUS PAP requests "
          f"(Argon2 m=19 MiB t=2) alone and beside 4 anonymous-search loops")
    for b in a.binaries:
        r = run(b, a.users, a.searches, a.radius_requests)
        print(f"{b}: refused search {r['search_ms']:.2f} ms mean (p50 {r['search_p50_ms']:.2f}); "
              f"RADIUS p50 {r['radius_alone_p50_ms']:.1f} ms alone, {r['radius_loaded_p50_ms']:.1f} ms under the flood "
              f"({r['radius_loaded_p50_ms'] / r['radius_alone_p50_ms']:.1f}x); flood {r['searches_per_s']:.0f} searches/s")


if __name__ == "__main__":
    sys.exit(main())
