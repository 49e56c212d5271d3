#!/usr/bin/env bash
# Warm-path A/B between two builds: the same store, the same load, alternating rounds, so a
# change's cost on cached RADIUS PAP and LDAP binds is read against the machine's own noise.
#   benches/warm_ab.sh OLD_BINARY NEW_BINARY [ROUNDS]
# Prints each round and the medians; every load is `hybridauth load` from NEW (it sleeps while
# it waits), 20,000 requests at concurrency 32, loopback only. With COLD=1, each round also
# sends 300 RADIUS requests for a user nobody has (one Argon2 run each: the cold reject path).
set -euo pipefail
OLD=${1:?old binary}; NEW=${2:?new binary}; ROUNDS=${3:-5}
DIR=$(mktemp -d "${TMPDIR:-/tmp}/hybridauth-warm-ab.XXXXXX")
trap 'rm -rf "$DIR"' EXIT
free() { python3 -c 'import socket,sys; s=socket.socket(socket.AF_INET, int(sys.argv[1])); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' "$1"; }
RADIUS=$(free 2); LDAP=$(free 1)
cat > "$DIR/c.toml" <<CONF
[store]
path = "$DIR/store.sqlite3"
[clock]
mode = "simulated"
[admin]
listen = ""
[radius]
listen = ["127.0.0.1:$RADIUS"]
accounting_listen = []
reject_delay = "0s"
[[radius.clients]]
name = "bench"
network = "127.0.0.1/32"
secret = "benchsecret"
endpoint = "on-prem"
[[ldap.listeners]]
address = "127.0.0.1:$LDAP"
endpoint = "on-prem"
CONF
"$NEW" --config "$DIR/c.toml" user add alice --password 'Winter2026!' >/dev/null
rate() { python3 -c 'import json,sys; print(round(json.load(sys.stdin)["rate"]))'; }
declare -A R L C
for round in $(seq "$ROUNDS"); do
  for b in old new; do
    bin=$OLD; [ "$b" = new ] && bin=$NEW
    "$bin" --config "$DIR/c.toml" serve 2>"$DIR/serve-$b.log" & pid=$!
    for _ in $(seq 100); do grep -q "hybridauth ready" "$DIR/serve-$b.log" && break; sleep 0.1; done
    r=$("$NEW" load radius --server "127.0.0.1:$RADIUS" --secret benchsecret --user alice --password 'Winter2026!' --concurrency 32 --requests 20000 --json | rate)
    l=$("$NEW" load ldap --server "127.0.0.1:$LDAP" --bind-dn alice --password 'Winter2026!' --concurrency 32 --requests 20000 --json | rate)
    c=0
    if [ "${COLD:-0}" = 1 ]; then
      c=$("$NEW" load radius --server "127.0.0.1:$RADIUS" --secret benchsecret --user ghost --password 'Nobody-1!' --concurrency 8 --requests 300 --json | rate)
    fi
    echo "round $round $b: warm RADIUS $r/s, warm LDAP bind $l/s, cold RADIUS reject $c/s"
    R[$b]+="$r "; L[$b]+="$l "; C[$b]+="$c "
    kill "$pid"; wait "$pid" 2>/dev/null || true
  done
done
median() { python3 -c 'import statistics,sys; print(round(statistics.median(map(float, sys.argv[1:]))))' $1; }
ro=$(median "${R[old]}"); rn=$(median "${R[new]}"); lo=$(median "${L[old]}"); ln=$(median "${L[new]}")
python3 -c "import sys; ro,rn,lo,ln=map(float,sys.argv[1:]); print(f'medians: warm RADIUS {rn:.0f}/s vs {ro:.0f}/s ({rn/ro:.2f}), warm LDAP bind {ln:.0f}/s vs {lo:.0f}/s ({ln/lo:.2f})')" "$ro" "$rn" "$lo" "$ln"
if [ "${COLD:-0}" = 1 ]; then
  co=$(median "${C[old]}"); cn=$(median "${C[new]}")
  python3 -c "import sys; co,cn=map(float,sys.argv[1:]); print(f'medians: cold RADIUS reject {cn:.0f}/s vs {co:.0f}/s ({cn/co:.2f})')" "$co" "$cn"
fi
