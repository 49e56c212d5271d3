#!/usr/bin/env bash
# The RADIUS pair (issue 25), side by side in one run: one node on SQLite, one node on
# PostgreSQL, two nodes on PostgreSQL with the load spread over both; warm (verified-secret
# cache) and cold (Argon2 on every request: wrong passwords), PostgreSQL's added latency per
# decision, answers resuming after PostgreSQL restarts, and acknowledged counts across kill -9
# of a node and of PostgreSQL. Driven by `hybridauth load` (it sleeps while it waits); a
# private PostgreSQL cluster (initdb in a temporary directory, a free loopback port), never a
# server someone left running. Every loop is bounded.
#
#   ./scripts/bench-pair.sh            # about 2 minutes on 2 cores; also run by scripts/bench.sh
#   REQUESTS=20000 ./scripts/bench-pair.sh
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS=${REQUESTS:-5000}
COLD=${COLD:-600}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$PGBIN/postgres" ] || { echo "PostgreSQL is not installed (apt-get install postgresql)"; exit 1; }
cargo build --release -q
cargo bench -q --bench argon2_time --no-run 2>/dev/null || true
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
HA="$TARGET_DIR/release/hybridauth"
WORK=$(mktemp -d /tmp/hybridauth-bench-pair.XXXXXX)
chmod 755 "$WORK"
PIDS=(); PG=""
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "$PG" ] && kill -INT "$PG" 2>/dev/null; sleep 0.5; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket,sys; s=socket.socket(socket.AF_INET, getattr(socket, sys.argv[1])); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' "$1"; }
wait_log() { for _ in $(seq 200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done; echo "timeout waiting for $2 in $1"; cat "$1"; exit 1; }
AS=(); [ "$(id -u)" -eq 0 ] && AS=(setpriv --reuid=postgres --regid=postgres --clear-groups)
SECRET=bench-secret-1; PW='Winter2026!'
rate() { python3 -c 'import json,sys; print(json.load(sys.stdin)["rate"])'; }
p50() { python3 -c 'import json,sys; print(json.load(sys.stdin)["latency_ms"]["p50"])'; }

# --- PostgreSQL, private ---------------------------------------------------------------------
mkdir -p "$WORK/pg"; [ "$(id -u)" -eq 0 ] && chown postgres "$WORK/pg"
"${AS[@]}" "$PGBIN/initdb" -D "$WORK/pg/data" -U hybridauth --auth=trust --no-sync >/dev/null
PGPORT=$(free_port SOCK_STREAM)
start_pg() { "${AS[@]}" "$PGBIN/postgres" -D "$WORK/pg/data" -p "$PGPORT" -k "$WORK/pg/data" \
    -c listen_addresses=127.0.0.1 -c max_connections=200 >>"$WORK/pg/log" 2>&1 & PG=$!
  for _ in $(seq 200); do "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PGPORT" && return 0; sleep 0.05; done; echo "PostgreSQL did not start"; exit 1; }
start_pg
"$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U hybridauth pair
URL="postgresql://hybridauth@127.0.0.1:$PGPORT/pair"

# --- nodes -------------------------------------------------------------------------------------
# node NAME URL: a configuration of its own (URL empty: SQLite), started in the background.
node() { local name=$1 url=$2 port; port=$(free_port SOCK_DGRAM)
  cat > "$WORK/$name.toml" <<EOF
[store]
path = "$WORK/$name/store.sqlite3"
url = "$url"
[admin]
listen = ""
[radius]
listen = ["127.0.0.1:$port"]
accounting_listen = []
reject_delay = "0s"
[[radius.clients]]
name = "bench"
network = "127.0.0.1/32"
secret = "$SECRET"
[ldap]
listeners = []
EOF
  echo "$port" > "$WORK/$name.port"; }
serve() { "$HA" --config "$WORK/$1.toml" serve 2>"$WORK/$1.log" & PIDS+=($!); eval "PID_$1=$!"; wait_log "$WORK/$1.log" "hybridauth ready"; }
port() { cat "$WORK/$1.port"; }
node sqlite ""; node pga "$URL"; node pgb "$URL"
"$HA" --config "$WORK/sqlite.toml" user add alice --password "$PW" >/dev/null
"$HA" --config "$WORK/pga.toml" user add alice --password "$PW" >/dev/null
# A lockout threshold nobody reaches: every wrong password is counted, none locks.
"$HA" --config "$WORK/pga.toml" tenant set ad-lockout-threshold 0 >/dev/null
serve sqlite; serve pga; serve pgb
load() { "$HA" load radius --server "127.0.0.1:$1" --secret $SECRET --user alice --password "$2" --requests "$3" --concurrency "$4" --json; }
echo "== measuring ($REQUESTS requests per warm cell, $COLD per cold cell)"
for n in sqlite pga pgb; do load "$(port $n)" "$PW" 20 1 >/dev/null; done
# Warm, alternating rounds, medians.
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print v[int((NR + 1) / 2)]}'; }
W_SQ=(); W_PG=(); W_PAIR=()
for _ in 1 2 3; do
  W_SQ+=("$(load "$(port sqlite)" "$PW" "$REQUESTS" 32 | rate)")
  W_PG+=("$(load "$(port pga)" "$PW" "$REQUESTS" 32 | rate)")
  load "$(port pga)" "$PW" "$REQUESTS" 16 > "$WORK/wa.json" & A=$!
  load "$(port pgb)" "$PW" "$REQUESTS" 16 > "$WORK/wb.json" & B=$!
  wait $A $B
  W_PAIR+=("$(python3 -c "import json; print(sum(json.load(open(f))['rate'] for f in ['$WORK/wa.json','$WORK/wb.json']))")")
done
# Latency per decision, one at a time (warm): what PostgreSQL adds to each.
L_SQ=$(load "$(port sqlite)" "$PW" 1000 1 | p50); L_PG=$(load "$(port pga)" "$PW" 1000 1 | p50)
# Cold: wrong passwords (never cached), one Argon2 run each; alternating rounds, medians.
# Where the CPU goes in the one-node cells (clock ticks, summed over the rounds): the machine's
# idle time, the node's Argon2 threads, its other threads, PostgreSQL's processes.
machine_idle() { awk '/^cpu / {print $5 + $6}' /proc/stat; }
node_ticks() { for t in /proc/$1/task/*; do echo "$(cat "$t/comm") $(awk '{print $14 + $15}' "$t/stat")"; done |
  awk '{ if ($1 ~ /^hybridauth-hash/) h += $2; else o += $2 } END {print h + 0, o + 0}'; }
pg_ticks() { for p in $(pgrep -x postgres); do awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null; done | awk '{s += $1} END {print s + 0}'; }
# cold_cell NAME PID: one cell, its rate on stdout, its CPU added to $WORK/cpu-NAME.
cold_cell() { local i0 n0 p0 t0 i1 n1 p1 t1 r
  i0=$(machine_idle); n0=$(node_ticks "$2"); p0=$(pg_ticks); t0=$(date +%s.%N)
  r=$(load "$(port "$1")" wrong "$COLD" 16 | rate)
  i1=$(machine_idle); n1=$(node_ticks "$2"); p1=$(pg_ticks); t1=$(date +%s.%N)
  echo "$i0 $i1 $n0 $n1 $p0 $p1 $t0 $t1" >> "$WORK/cpu-$1"; echo "$r"; }
C_SQ=(); C_PG=(); C_PAIR=()
for _ in 1 2 3; do
  C_SQ+=("$(cold_cell sqlite "$PID_sqlite")")
  C_PG+=("$(cold_cell pga "$PID_pga")")
  load "$(port pga)" wrong $((COLD / 2)) 8 > "$WORK/ca.json" & A=$!
  load "$(port pgb)" wrong $((COLD / 2)) 8 > "$WORK/cb.json" & B=$!
  wait $A $B
  C_PAIR+=("$(python3 -c "import json; print(sum(json.load(open(f))['rate'] for f in ['$WORK/ca.json','$WORK/cb.json']))")")
done
# The Argon2 ceiling: the same verification (hybridauth's default cost) on every core at once,
# nothing else running — what the hardware itself sustains, the bound of any cold cell.
CORES=$(nproc)
ARGON_PAR_MS=$(cargo bench -q --bench argon2_time -- --bench --memory-kib 19456 --iterations 2 --parallelism 1 --threads "$CORES" --runs 30 2>/dev/null | awk '/^argon2_ms/ {print $2}')
CEILING=$(python3 -c "print($CORES / ($ARGON_PAR_MS / 1000))")

# PostgreSQL restart: stop it, start it, and time from "accepts connections" to an answer.
kill -INT "$PG"; wait "$PG" 2>/dev/null || true
start_pg
T0=$(date +%s.%N)
RESUME=""
for _ in $(seq 400); do
  if [ "$(load "$(port pga)" "$PW" 1 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["answered"])')" = 1 ]; then
    RESUME=$(python3 -c "print(round(($(date +%s.%N) - $T0) * 1000))"); break; fi
done
# kill -9 of a node, then of PostgreSQL, each under a load of wrong passwords: every reject a
# client received is a count that must be in the store afterwards.
bad() { "$HA" --config "$WORK/pga.toml" --json user show alice | python3 -c 'import json,sys; print(json.load(sys.stdin)["ad_lockout"]["bad_count"])'; }
answered() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["answered"])' "$1"; }
B0=$(bad)
# Short timeouts, so that the requests a dead node (or database) leaves unanswered end quickly.
kload() { "$HA" load radius --server "127.0.0.1:$1" --secret $SECRET --user alice --password wrong --requests 1000 --concurrency 8 --retransmit 300ms,0 --json; }
kload "$(port pgb)" > "$WORK/k1.json" 2>/dev/null & L=$!
sleep 1; kill -9 "$PID_pgb"; wait $L || true
B1=$(bad); ACK1=$(answered "$WORK/k1.json")
kload "$(port pga)" > "$WORK/k2.json" 2>/dev/null & L=$!
sleep 1; kill -9 "$PG"; wait "$PG" 2>/dev/null || true; sleep 1; start_pg; wait $L || true
B2=$(bad); ACK2=$(answered "$WORK/k2.json")

python3 - "$(median "${W_SQ[@]}")" "$(median "${W_PG[@]}")" "$(median "${W_PAIR[@]}")" "$L_SQ" "$L_PG" "$(median "${C_SQ[@]}")" "$(median "${C_PG[@]}")" "$(median "${C_PAIR[@]}")" "${RESUME:-0}" "$B0" "$B1" "$ACK1" "$B2" "$ACK2" "$CEILING" "${W_SQ[*]}" "${W_PG[*]}" "${W_PAIR[*]}" "${C_SQ[*]}" "${C_PG[*]}" "${C_PAIR[*]}" "$WORK" <<'EOF'
import sys
w_sq, w_pg, w_pair, l_sq, l_pg, c_sq, c_pg, c_pair, resume, b0, b1, ack1, b2, ack2, ceiling = (float(x) for x in sys.argv[1:16])
work = sys.argv[22]
rounds = [" / ".join(f"{float(v):.0f}" for v in r.split()) for r in sys.argv[16:19]]
cold_rounds = [" / ".join(f"{float(v):.1f}" for v in r.split()) for r in sys.argv[19:22]]
print(f"\n{'the pair':<44} {'req/s':>9}   ratio")
print(f"{'warm RADIUS, one node on SQLite':<44} {w_sq:>9.0f}    1.00")
print(f"{'warm RADIUS, one node on PostgreSQL':<44} {w_pg:>9.0f}   {w_pg / w_sq:5.2f}  (target >= 0.8 of SQLite)")
print(f"{'warm RADIUS, two nodes on PostgreSQL':<44} {w_pair:>9.0f}   {w_pair / w_pg:5.2f}  of one node (target >= 0.9: the CPU is the limit)")
print(f"  (medians of three rounds; SQLite {rounds[0]}, PostgreSQL {rounds[1]}, pair {rounds[2]})")
print(f"{'cold RADIUS reject, one node on SQLite':<44} {c_sq:>9.1f}    1.00   {c_sq / ceiling:5.2f} of the Argon2 ceiling")
print(f"{'cold RADIUS reject, one node on PostgreSQL':<44} {c_pg:>9.1f}   {c_pg / c_sq:5.2f}   {c_pg / ceiling:5.2f} of the Argon2 ceiling")
print(f"{'cold RADIUS reject, two nodes on PostgreSQL':<44} {c_pair:>9.1f}   {c_pair / c_sq:5.2f}   {c_pair / ceiling:5.2f} of the Argon2 ceiling")
print(f"  (medians of three rounds; SQLite {cold_rounds[0]}, PostgreSQL {cold_rounds[1]}, pair {cold_rounds[2]}; the ceiling, the same hash on every core at once with nothing else running: {ceiling:.1f}/s)")
hz = float(__import__("os").sysconf("SC_CLK_TCK"))
cores = __import__("os").cpu_count()
for name, label in (("sqlite", "SQLite"), ("pga", "PostgreSQL")):
    idle = hash_ = other = pg = wall = 0.0
    for line in open(f"{work}/cpu-{name}"):
        i0, i1, h0, o0, h1, o1, p0, p1, t0, t1 = (float(x) for x in line.split())
        idle += i1 - i0; hash_ += h1 - h0; other += o1 - o0; pg += p1 - p0; wall += t1 - t0
    busy = 1 - idle / hz / (wall * cores)
    total = hash_ + other + pg
    print(f"  cold on {label}: the machine {busy:.0%} busy; of the server's CPU, Argon2 threads {hash_ / total:.0%}, the node's other threads {other / total:.0%}, PostgreSQL {pg / total:.0%}")
print(f"latency per warm decision, one at a time (p50): SQLite {l_sq:.2f} ms, PostgreSQL {l_pg:.2f} ms (+{l_pg - l_sq:.2f} ms)")
print(f"PostgreSQL restarted: first answer {resume:.0f} ms after it accepted connections (target <= 2000)")
print(f"kill -9 of a node under load: {ack1:.0f} rejects acknowledged, {b1 - b0:.0f} counted ({b1 - b0 - ack1:+.0f}: a count may land for a reject the node died before sending, never the reverse)")
print(f"kill -9 of PostgreSQL under load: {ack2:.0f} rejects acknowledged, {b2 - b1:.0f} counted ({b2 - b1 - ack2:+.0f})")
EOF
