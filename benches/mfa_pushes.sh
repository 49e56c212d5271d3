#!/usr/bin/env bash
# MFA over RADIUS under load (issue 26): 1000 requests held at once while their pushes wait for
# the phone, beside a NAS without the extension whose users are warm. Reports the daemon's RSS
# before and while they wait, and the warm users' latency alone and beside the held pushes.
# `hybridauth load` drives both (it sleeps while it waits); loopback only, bounded.
#   benches/mfa_pushes.sh [HELD]
set -euo pipefail
cd "$(dirname "$0")/.."
HELD=${1:-1000}
cargo build --release -q
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
HA="$TARGET_DIR/release/hybridauth"
DIR=$(mktemp -d /tmp/hybridauth-mfa-bench.XXXXXX)
PID=""
trap '[ -n "$PID" ] && kill $PID 2>/dev/null; cp "$DIR/serve.log" /tmp/mfa-bench-serve.log 2>/dev/null; rm -rf "$DIR"' EXIT
free() { python3 -c 'import socket,sys; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
R=$(free); A=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$DIR/c.toml" <<EOF
[store]
path = "$DIR/store.sqlite3"
[clock]
mode = "simulated"
[admin]
listen = "127.0.0.1:$A"
[radius]
listen = ["127.0.0.1:$R"]
accounting_listen = []
reject_delay = "0s"
[radius.mfa]
extension = "nps"
timeout = "60s"
[[radius.clients]]
name = "mfa-nas"
network = "127.0.0.1/32"
secret = "benchsecret"
[[radius.clients]]
name = "plain-nas"
network = "127.0.0.2/32"
secret = "benchsecret"
mfa = "off"
[ldap]
listeners = []
EOF
"$HA" --config "$DIR/c.toml" user add held --password 'Held-pass-1' >/dev/null
"$HA" --config "$DIR/c.toml" user add warm --password 'Warm-pass-1' >/dev/null
"$HA" --config "$DIR/c.toml" sync now >/dev/null
"$HA" --config "$DIR/c.toml" user mfa add held --push >/dev/null
"$HA" --config "$DIR/c.toml" serve 2>"$DIR/serve.log" & PID=$!
for _ in $(seq 100); do grep -q "hybridauth ready" "$DIR/serve.log" && break; sleep 0.1; done
rss() { awk '/VmRSS/ {print $2}' /proc/$PID/status; }
# The warm users' NAS: 127.0.0.2 is the client without the extension (load binds 0.0.0.0, so
# the source address is set by routing: use a socket helper instead).
warm() { python3 - "$R" "$1" <<'PY'
import socket, sys, os, time, hashlib, hmac, statistics
port, n = int(sys.argv[1]), int(sys.argv[2])
secret = b"benchsecret"
def req(i):
    auth = os.urandom(16)
    pw = b"Warm-pass-1".ljust(16, b"\0")
    h = hashlib.md5(secret + auth).digest()
    hidden = bytes(a ^ b for a, b in zip(pw, h))
    attrs = bytes([1, 6]) + b"warm" + bytes([2, 18]) + hidden + bytes([80, 18]) + bytes(16)
    p = bytearray(bytes([1, i % 256]) + (20 + len(attrs)).to_bytes(2, "big") + auth + attrs)
    p[-16:] = hmac.new(secret, bytes(p), "md5").digest()
    return bytes(p)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.2", 0)); s.settimeout(5)
lat = []
for i in range(n):
    t = time.perf_counter(); s.sendto(req(i), ("127.0.0.1", port)); s.recv(4096); lat.append((time.perf_counter() - t) * 1000)
lat.sort()
print(f"{statistics.median(lat):.2f} {lat[int(len(lat) * 0.99) - 1]:.2f}")
PY
}
warm 50 >/dev/null
# held's secret verified once (approved), so the flood below waits on the phone, not on Argon2.
"$HA" load radius --server 127.0.0.1:$R --secret benchsecret --user held --password 'Held-pass-1' --requests 1 --retransmit 30s,0 >/dev/null & ONE=$!
until "$HA" --config "$DIR/c.toml" mfa approve held >/dev/null 2>&1; do sleep 0.1; done
wait $ONE
ALONE=$(warm 500)
RSS0=$(rss)
"$HA" load radius --server 127.0.0.1:$R --secret benchsecret --user held --password 'Held-pass-1' --requests "$HELD" --concurrency "$HELD" --retransmit 5s,10 --json > "$DIR/held.json" 2>/dev/null & LOAD=$!
for _ in $(seq 300); do
  pending=$(curl -s "http://127.0.0.1:$A/metrics" | awk '/^hybridauth_mfa_pushes_pending / {print int($2)}')
  pending=${pending:-0}
  [ "$pending" -ge "$HELD" ] && break; sleep 0.1; done
RSS1=$(rss)
BESIDE=$(warm 500)
kill $LOAD 2>/dev/null || true
echo "held pushes: $pending (of $HELD sent)"
echo "RSS: ${RSS0} KiB idle -> ${RSS1} KiB with them held (+$(( (RSS1 - RSS0) / 1024 )) MiB)"
echo "warm requests through a NAS without the extension, p50 / p99 ms: alone $ALONE; beside the held pushes $BESIDE"
