#!/usr/bin/env bash
# RADIUS over TLS (RFC 6614) and TCP (RFC 6613) against UDP on the same server and machine:
# warm PAP requests (a cached secret) over one pipelined connection, against the same requests
# as UDP datagrams, in alternating rounds; the server's CPU per request from /proc; and new TLS
# connections a second (a handshake and one request each).
#   benches/radsec.sh [BINARY] [ROUNDS]      (default target/release/hybridauth, 3 rounds)
# Every load is `hybridauth load` (it sleeps while it waits), 20,000 requests at concurrency 32,
# loopback only. Not part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
HA=${1:-target/release/hybridauth}; ROUNDS=${2:-3}; REQUESTS=${REQUESTS:-20000}
[ -x "$HA" ] || cargo build --release -q
DIR=$(mktemp -d "${TMPDIR:-/tmp}/hybridauth-radsec-bench.XXXXXX")
PID=""
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$DIR"' EXIT
free() { python3 -c 'import socket,sys; s=socket.socket(socket.AF_INET, int(sys.argv[1])); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' "$1"; }
UDP=$(free 2); TLS=$(free 1); TCP=$(free 1)
"$HA" cert --radsec --dir "$DIR/radsec" --client bench >/dev/null
cat > "$DIR/c.toml" <<CONF
[store]
path = "$DIR/store.sqlite3"
[clock]
mode = "simulated"
[admin]
listen = ""
[radius]
listen = ["127.0.0.1:$UDP"]
accounting_listen = []
reject_delay = "0s"
[[radius.clients]]
name = "bench"
network = "127.0.0.1/32"
secret = "benchsecret"
endpoint = "on-prem"
[[radius.clients]]
name = "bench-tls"
tls_identity = "bench"
endpoint = "on-prem"
[[radius.tls_listeners]]
listen = "127.0.0.1:$TLS"
cert = "$DIR/radsec/server.pem"
key = "$DIR/radsec/server-key.pem"
ca = "$DIR/radsec/ca.pem"
[[radius.tcp_listeners]]
listen = "127.0.0.1:$TCP"
[ldap]
listeners = []
CONF
"$HA" --config "$DIR/c.toml" user add alice --password 'Winter2026!' >/dev/null
"$HA" --config "$DIR/c.toml" serve 2>"$DIR/serve.log" & PID=$!
for _ in $(seq 100); do grep -q "hybridauth ready" "$DIR/serve.log" && break; sleep 0.1; done
TLSARGS=(--tls-ca "$DIR/radsec/ca.pem" --tls-cert "$DIR/radsec/client-bench.pem" --tls-key "$DIR/radsec/client-bench-key.pem")
ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
HZ=$(getconf CLK_TCK)
# One load; prints "rate cpu_us_per_request".
run() {
  local before after out
  before=$(ticks)
  out=$("$HA" load radius --user alice --password 'Winter2026!' --concurrency 32 --requests "$REQUESTS" --json "$@")
  after=$(ticks)
  python3 -c 'import json,sys; r=json.loads(sys.argv[1]); ok=r["answers"].get("Access-Accept",0); assert ok==int(sys.argv[4]), r; print(round(r["rate"]), round((int(sys.argv[3])-int(sys.argv[2]))/int(sys.argv[5])*1e6/ok))' "$out" "$before" "$after" "$REQUESTS" "$HZ"
}
# Warm the cache once.
"$HA" load radius --server "127.0.0.1:$UDP" --secret benchsecret --user alice --password 'Winter2026!' --requests 10 --json >/dev/null
declare -A RATE CPU
for round in $(seq "$ROUNDS"); do
  for t in udp tls tcp; do
    case $t in
      udp) read -r r c < <(run --server "127.0.0.1:$UDP" --secret benchsecret) ;;
      tls) read -r r c < <(run --transport tls --server "127.0.0.1:$TLS" --secret radsec "${TLSARGS[@]}") ;;
      tcp) read -r r c < <(run --transport tcp --server "127.0.0.1:$TCP" --secret benchsecret) ;;
    esac
    echo "round $round $t: $r req/s, server CPU $c us/request"
    RATE[$t]+="$r "; CPU[$t]+="$c "
  done
done
hs=$("$HA" load radius --transport tls --reconnect --server "127.0.0.1:$TLS" --secret radsec "${TLSARGS[@]}" --user alice --password 'Winter2026!' --concurrency 8 --requests 2000 --json \
  | python3 -c 'import json,sys; r=json.load(sys.stdin); print(round(r["rate"]), r["latency_ms"]["p50"] if "latency_ms" in r else "")')
# Memory: 250 TLS connections opened (handshake done, one Status-Server answered), held idle.
rss() { awk '/VmRSS/ {print $2}' "/proc/$PID/status"; }
rss0=$(rss)
mem=$(python3 - "$TLS" "$DIR/radsec" "$PID" <<'PY'
import hashlib, hmac, socket, ssl, sys
port, certs, pid = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=f"{certs}/ca.pem")
ctx.load_cert_chain(f"{certs}/client-bench.pem", f"{certs}/client-bench-key.pem")
held = []
for i in range(250):
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
    p = bytearray([12, i % 256, 0, 38]) + bytes(16) + bytes([80, 18]) + bytes(16)
    p[22:38] = hmac.new(b"radsec", bytes(p), hashlib.md5).digest()
    s.sendall(bytes(p))
    assert s.recv(4096)[0] == 2
    held.append(s)
print(open(f"/proc/{pid}/status").read().split("VmRSS:")[1].split()[0])
PY
)
hs="$hs $rss0 $mem"
python3 - "${RATE[udp]}" "${RATE[tls]}" "${RATE[tcp]}" "${CPU[udp]}" "${CPU[tls]}" "${CPU[tcp]}" "$hs" <<'PY'
import statistics, sys
med = lambda s: statistics.median(float(x) for x in s.split())
ru, rt, rc, cu, ct, cc = (med(a) for a in sys.argv[1:7])
hs = sys.argv[7].split()
print(f"medians of {len(sys.argv[1].split())} alternating rounds, one connection each for TLS and TCP:")
print(f"  warm RADIUS over UDP  {ru:8.0f} req/s   server CPU {cu:4.0f} us/request")
print(f"  warm RADIUS over TLS  {rt:8.0f} req/s   server CPU {ct:4.0f} us/request   TLS/UDP: rate {rt/ru:.2f}, CPU {ct/cu:.2f}")
print(f"  warm RADIUS over TCP  {rc:8.0f} req/s   server CPU {cc:4.0f} us/request   TCP/UDP: rate {rc/ru:.2f}, CPU {cc/cu:.2f}")
print(f"  new TLS connections (handshake + one request, 8 at once): {hs[0]}/s = {float(hs[0])/ru:.3f} of the UDP request rate")
r0, r1 = float(hs[-2]), float(hs[-1])
print(f"  250 idle TLS connections: RSS {r0/1024:.1f} -> {r1/1024:.1f} MiB ({(r1-r0)/250:.0f} KiB a connection)")
PY
