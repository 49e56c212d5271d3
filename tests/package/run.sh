#!/usr/bin/env bash
# The Debian package, end to end on this machine (issue 11): install the .deb just built with
# dpkg -i, check the user, modes and the unit's hardening, run the installed binary with the
# installed configuration as the hybridauth user (no systemd needed), authenticate through it
# with radtest and ldapwhoami, then purge and check that nothing is left but the system user
# (which Debian policy keeps). Needs root (or sudo); prints "package: N passed" or fails.
set -euo pipefail
DEB=$1
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
fail() { echo "FAIL  package: $*"; exit 1; }
ok() { echo "ok    package: $*"; passed=$((passed + 1)); }
passed=0
if dpkg -s hybridauth >/dev/null 2>&1; then
  fail "a hybridauth package is already installed here; not touching it"
fi
# The installed configuration as it is, on ports of the test's own (a server left running on
# the default ports, e.g. the README's first command, must not fail the suite): only the
# listener addresses are overridden, through the environment.
free() { python3 -c 'import socket,sys; s=socket.socket(socket.AF_INET, int(sys.argv[1])); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' "$1"; }
RADIUS=$(free 2); ACCT=$(free 2); LDAP=$(free 1); ADMIN=$(free 1); LDAPS=$(free 1)
PORTS=(env "HYBRIDAUTH_RADIUS__LISTEN=[\"127.0.0.1:$RADIUS\"]"
  "HYBRIDAUTH_RADIUS__ACCOUNTING_LISTEN=[\"127.0.0.1:$ACCT\"]"
  "HYBRIDAUTH_LDAP__LISTENERS=[{address=\"127.0.0.1:$LDAP\",endpoint=\"on-prem\"},{address=\"127.0.0.1:$LDAPS\",endpoint=\"on-prem\",tls=\"ldaps\",cert=\"/etc/hybridauth/cert.pem\",key=\"/etc/hybridauth/key.pem\"}]"
  "HYBRIDAUTH_ADMIN__LISTEN=127.0.0.1:$ADMIN")
LOG=$(mktemp -d "${TMPDIR:-/tmp}/hybridauth-package.XXXXXX")
SERVER=""
cleanup() {
  [ -n "$SERVER" ] && $SUDO kill "$SERVER" 2>/dev/null || true
  $SUDO dpkg --purge hybridauth >/dev/null 2>&1 || true
}
trap cleanup EXIT

$SUDO dpkg -i "$DEB" > "$LOG/dpkg-install.log" 2>&1 || { cat "$LOG/dpkg-install.log"; fail "dpkg -i"; }
getent passwd hybridauth >/dev/null || fail "no hybridauth system user"
[ "$(stat -c '%U %a' /var/lib/hybridauth)" = "hybridauth 700" ] || fail "/var/lib/hybridauth is $(stat -c '%U %a' /var/lib/hybridauth)"
[ "$(stat -c '%U %G %a' /etc/hybridauth/hybridauth.toml)" = "root hybridauth 640" ] || fail "config is $(stat -c '%U %G %a' /etc/hybridauth/hybridauth.toml)"
dpkg-query -W -f='${Conffiles}\n' hybridauth | grep -q '/etc/hybridauth/hybridauth.toml' || fail "the configuration is not a conffile"
ok "installed: user, 0700 state directory, 0640 root:hybridauth configuration (a conffile)"

if command -v systemd-analyze >/dev/null 2>&1; then
  exposure=$(systemd-analyze security --offline=yes /lib/systemd/system/hybridauth.service 2>/dev/null | sed -nE 's/.*Overall exposure level for [^:]*: ([0-9.]+).*/\1/p')
  python3 -c "import sys; sys.exit(0 if float('$exposure') <= 3.0 else 1)" || fail "unit exposure $exposure > 3.0"
  ok "systemd-analyze security: $exposure (OK is <= 3.0)"
fi

as_service() { $SUDO runuser -u hybridauth -- "$@"; }
CONF=/etc/hybridauth/hybridauth.toml
as_service /usr/bin/hybridauth --config "$CONF" user add pkgtest --password Pkg-pass-1 >/dev/null || fail "user add as the service user"
as_service /usr/bin/hybridauth --config "$CONF" config check >/dev/null || fail "config check of the installed configuration"
# Root on the service's state: the command does its work as the service user (the files it
# makes stay the service's), and says so.
$SUDO /usr/bin/hybridauth --config "$CONF" user add rootmade --password Root-pass-1 > /dev/null 2> "$LOG/as-root.txt" || { cat "$LOG/as-root.txt"; fail "user add as root"; }
grep -q "running as hybridauth" "$LOG/as-root.txt" || fail "user add as root did not say it ran as hybridauth: $(cat "$LOG/as-root.txt")"
left=$($SUDO find /var/lib/hybridauth /var/log/hybridauth ! -user hybridauth)
[ -z "$left" ] || fail "files not owned by the service after a root command: $left"
# serve as root on it refuses, naming the way to start it.
timeout 10 $SUDO /usr/bin/hybridauth --config "$CONF" serve > "$LOG/serve-root.txt" 2>&1 && fail "serve as root started"
grep -q "setpriv --reuid=hybridauth" "$LOG/serve-root.txt" || fail "serve as root: $(cat "$LOG/serve-root.txt")"
# A certificate made by root in /etc/hybridauth is readable by the service (root:hybridauth 0640).
$SUDO /usr/bin/hybridauth cert --cert /etc/hybridauth/cert.pem --key /etc/hybridauth/key.pem > /dev/null || fail "cert as root"
[ "$(stat -c '%U %G %a' /etc/hybridauth/key.pem)" = "root hybridauth 640" ] || fail "key is $(stat -c '%U %G %a' /etc/hybridauth/key.pem)"
as_service "${PORTS[@]}" /usr/bin/hybridauth --config "$CONF" config check > "$LOG/check-tls.txt" 2>&1 || { cat "$LOG/check-tls.txt"; fail "config check with the LDAPS pair made by root"; }
ok "as root: store commands run as the service user, serve refuses, cert hands its files to the service"
# setpriv executes the daemon in place (runuser would fork and not pass a SIGTERM on), so $!
# is the daemon itself and the kill below stops it.
$SUDO "${PORTS[@]}" setpriv --reuid=hybridauth --regid=hybridauth --init-groups \
  /usr/bin/hybridauth --config "$CONF" serve > "$LOG/serve.log" 2>&1 &
SERVER=$!
for _ in $(seq 200); do grep -q "hybridauth ready" "$LOG/serve.log" && break; sleep 0.05; done
grep -q "hybridauth ready" "$LOG/serve.log" || { cat "$LOG/serve.log"; fail "the installed daemon did not start"; }
ok "the installed binary serves the installed configuration as the hybridauth user"
radtest pkgtest Pkg-pass-1 "127.0.0.1:$RADIUS" 0 testing123 2>&1 | grep -q "Received Access-Accept" || fail "radtest"
ldapwhoami -x -H "ldap://127.0.0.1:$LDAP" -D pkgtest -w Pkg-pass-1 2>&1 | grep -q 'u:CONTOSO\\pkgtest' || fail "ldapwhoami"
LDAPTLS_REQCERT=never ldapwhoami -x -H "ldaps://127.0.0.1:$LDAPS" -D rootmade -w Root-pass-1 2>&1 | grep -q 'u:CONTOSO\\rootmade' || fail "ldapwhoami over LDAPS with the root-made pair, as the user root made"
as_service "${PORTS[@]}" /usr/bin/hybridauth --config "$CONF" health > "$LOG/health.txt" 2>&1 || { cat "$LOG/health.txt"; fail "hybridauth health"; }
head -1 "$LOG/health.txt" | grep -qx healthy || fail "hybridauth health: $(cat "$LOG/health.txt")"
ok "radtest and ldapwhoami authenticate through it; hybridauth health says healthy"
# The page: the installed clock is the system's, so it shows the user and cannot move time.
curl -s "http://127.0.0.1:$ADMIN/api/overview" > "$LOG/overview.json" || fail "the page's overview"
grep -q '"sam":"pkgtest"' "$LOG/overview.json" || fail "the page does not list pkgtest: $(cat "$LOG/overview.json")"
grep -q '"can_advance":false' "$LOG/overview.json" || fail "the page could move the system clock"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'X-Hybridauth-Page: 1' "http://127.0.0.1:$ADMIN/api/clock/advance?to=object-sync")
[ "$code" = 403 ] || fail "moving the system clock from the page answered $code"
ok "the page lists the user and is read-only on the system clock"
$SUDO kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""
ss -lntu 2>/dev/null | awk '{print $5}' | grep -qE "[:.]$LDAP\$" && fail "the daemon did not stop"
[ "$(stat -c '%a' /var/lib/hybridauth/hybridauth.sqlite3)" = "600" ] || fail "the store is not 0600"

# As `systemctl enable hybridauth` would (there is no running systemd here): purge removes it.
$SUDO mkdir -p /etc/systemd/system/multi-user.target.wants
$SUDO ln -sf /lib/systemd/system/hybridauth.service /etc/systemd/system/multi-user.target.wants/hybridauth.service
$SUDO dpkg --purge hybridauth > "$LOG/dpkg-purge.log" 2>&1 || { cat "$LOG/dpkg-purge.log"; fail "dpkg --purge"; }
[ -L /etc/systemd/system/multi-user.target.wants/hybridauth.service ] && fail "the enabled unit's wants link is left after purge"
for p in /usr/bin/hybridauth /etc/hybridauth /var/lib/hybridauth /var/log/hybridauth \
         /lib/systemd/system/hybridauth.service /etc/logrotate.d/hybridauth /usr/share/doc/hybridauth; do
  [ -e "$p" ] && fail "$p is left after purge"
done
getent passwd hybridauth >/dev/null || fail "the system user was removed (Debian policy keeps it)"
ok "purged: nothing left but the hybridauth system user (no wants link either)"
echo "package: $passed passed"
