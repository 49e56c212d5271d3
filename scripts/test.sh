#!/usr/bin/env bash
# The whole test suite: unit and wire tests (cargo test), then the interop suite against
# clients nobody here wrote. Installs what the interop suite needs when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v radclient >/dev/null 2>&1 || need_apt+=(freeradius-utils)
command -v ldapwhoami >/dev/null 2>&1 || need_apt+=(ldap-utils)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "== installing ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
if ! python3 -c 'import pyrad, ldap3' >/dev/null 2>&1; then
  echo "== installing pyrad and ldap3"
  python3 -m pip install -q pyrad ldap3
fi

echo "== cargo test"
cargo test --all-targets 2>&1 | tee /tmp/hybridauth-cargo-test.log | grep -E '^(test result|error|warning: unused)|FAILED|panicked' || true
if grep -qE '^test result: FAILED|^error' /tmp/hybridauth-cargo-test.log || ! grep -q '^test result: ok' /tmp/hybridauth-cargo-test.log; then
  echo "cargo test failed"; exit 1
fi
passed=$(grep -E '^test result: ok' /tmp/hybridauth-cargo-test.log | awk '{for(i=1;i<=NF;i++) if($i=="passed;") s+=$(i-1)} END {print s+0}')

echo "== interop suite"
cargo build -q
HYBRIDAUTH_BIN="$PWD/target/debug/hybridauth" python3 tests/interop/run.py > /tmp/hybridauth-interop.log 2>&1 || { cat /tmp/hybridauth-interop.log; exit 1; }
grep -E '^(ok|FAIL)' /tmp/hybridauth-interop.log
ipassed=$(sed -nE 's/^interop: ([0-9]+) passed.*/\1/p' /tmp/hybridauth-interop.log)

echo "cargo test: ${passed} passed; interop: ${ipassed} passed"
echo "$((passed + ipassed)) passed, 0 failed"
