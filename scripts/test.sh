#!/usr/bin/env bash
# The whole test suite: unit and wire tests (cargo test, on SQLite and again on PostgreSQL),
# then the interop suite against clients nobody here wrote. Installs what they need when it is
# missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v radclient >/dev/null 2>&1 || need_apt+=(freeradius-utils)
command -v ldapwhoami >/dev/null 2>&1 || need_apt+=(ldap-utils)
command -v adduser >/dev/null 2>&1 || need_apt+=(adduser)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v eapol_test >/dev/null 2>&1 || need_apt+=(eapoltest)
# A real web application's LDAP module (mod_authnz_ldap) does search-then-bind and group checks.
[ -x /usr/sbin/apache2 ] || need_apt+=(apache2-bin)
# The admin page is tested in headless Chromium, driven by chromedriver.
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
[ -x /usr/bin/chromedriver ] || need_apt+=(chromium-driver)
# MFA over RADIUS: codes computed by oathtool; pam_radius_auth answering the prompt through pamtester.
command -v oathtool >/dev/null 2>&1 || need_apt+=(oathtool)
command -v pamtester >/dev/null 2>&1 || need_apt+=(pamtester)
ls /lib/*/security/pam_radius_auth.so >/dev/null 2>&1 || need_apt+=(libpam-radius-auth)
# The shared store's tests start PostgreSQL clusters of their own (initdb on a private port).
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need_apt+=(postgresql)
command -v setpriv >/dev/null 2>&1 || need_apt+=(util-linux)
# RADIUS over TLS: radsecproxy and FreeRADIUS as TLS clients, openssl checking certificate chains.
command -v radsecproxy >/dev/null 2>&1 || [ -x /usr/sbin/radsecproxy ] || need_apt+=(radsecproxy)
command -v freeradius >/dev/null 2>&1 || [ -x /usr/sbin/freeradius ] || need_apt+=(freeradius)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "== installing ${need_apt[*]} (their system services are kept from starting)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  had_policy=0; [ -e /usr/sbin/policy-rc.d ] && had_policy=1
  [ $had_policy = 1 ] || printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
  [ $had_policy = 1 ] || $SUDO rm -f /usr/sbin/policy-rc.d
fi
if ! python3 -c 'import pyrad, ldap3, prometheus_client, selenium' >/dev/null 2>&1; then
  echo "== installing pyrad, ldap3, prometheus-client and selenium"
  python3 -m pip install -q pyrad ldap3 prometheus-client selenium
fi

# Logs go to a private directory of their own (mktemp -d is 0700), kept for inspection.
LOGS=$(mktemp -d "${TMPDIR:-/tmp}/hybridauth-test.XXXXXX")
# Wherever cargo puts its output (CARGO_TARGET_DIR, a workspace, .cargo/config).
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
# The unit, wire and CLI tests; never the benchmarks (they are run by scripts/bench.sh and
# benches/*.py only).
TESTS=(--lib --bins --tests)

echo "== building the tests (logs in $LOGS)"
cargo test --no-run "${TESTS[@]}"   # cargo's own progress, on the terminal
cargo build -q                        # the binary the interop suite drives

echo "== cargo test"
cargo test "${TESTS[@]}" 2>&1 | tee "$LOGS/cargo-test.log" | grep -E '^(test result|error|warning: unused)|FAILED|panicked' || true
if grep -qE '^test result: FAILED|^error' "$LOGS/cargo-test.log" || ! grep -q '^test result: ok' "$LOGS/cargo-test.log"; then
  echo "cargo test failed (full log: $LOGS/cargo-test.log)"; exit 1
fi
passed=$(grep -E '^test result: ok' "$LOGS/cargo-test.log" | awk '{for(i=1;i<=NF;i++) if($i=="passed;") s+=$(i-1)} END {print s+0}')

# The same wire, CLI and page tests again with every test daemon on PostgreSQL (a private
# cluster per test binary; the store contract and the pair test run on it in both passes).
echo "== cargo test, every daemon on PostgreSQL"
HYBRIDAUTH_TEST_BACKEND=postgresql cargo test --tests 2>&1 | tee "$LOGS/cargo-test-postgresql.log" | grep -E '^(test result|error)|FAILED|panicked' || true
if grep -qE '^test result: FAILED|^error' "$LOGS/cargo-test-postgresql.log" || ! grep -q '^test result: ok' "$LOGS/cargo-test-postgresql.log"; then
  echo "cargo test on PostgreSQL failed (full log: $LOGS/cargo-test-postgresql.log)"; exit 1
fi
pgpassed=$(grep -E '^test result: ok' "$LOGS/cargo-test-postgresql.log" | awk '{for(i=1;i<=NF;i++) if($i=="passed;") s+=$(i-1)} END {print s+0}')

echo "== interop suite"
HYBRIDAUTH_BIN="$TARGET_DIR/debug/hybridauth" python3 tests/interop/run.py > "$LOGS/interop.log" 2>&1 || { cat "$LOGS/interop.log"; exit 1; }
grep -E '^(ok|FAIL)' "$LOGS/interop.log"
ipassed=$(sed -nE 's/^interop: ([0-9]+) passed.*/\1/p' "$LOGS/interop.log")

echo "== Debian package (scripts/package.sh, installed, used and purged on this machine)"
DEB=$(./scripts/package.sh)
tests/package/run.sh "$DEB" > "$LOGS/package.log" 2>&1 || { cat "$LOGS/package.log"; exit 1; }
grep -E '^(ok|FAIL)' "$LOGS/package.log"
ppassed=$(sed -nE 's/^package: ([0-9]+) passed.*/\1/p' "$LOGS/package.log")

echo "cargo test: ${passed} passed; on PostgreSQL: ${pgpassed} passed; interop: ${ipassed} passed; package: ${ppassed} passed"
echo "$((passed + pgpassed + ipassed + ppassed)) passed, 0 failed"
