#!/usr/bin/env bash
# Builds the Debian package: target/debian/hybridauth_<version>_<arch>.deb with the binary,
# /etc/hybridauth/hybridauth.toml (a conffile), the hardened systemd unit, the logrotate file,
# the docs, and maintainer scripts that make the hybridauth system user and /var/lib/hybridauth
# (0700). Only dpkg-deb is needed (no cargo-deb).
#
#   ./scripts/package.sh            # prints the path of the .deb
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
VERSION=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["packages"][0]["version"])')
ARCH=$(dpkg --print-architecture)
cargo build --release -q
STAGE=$(mktemp -d "${TMPDIR:-/tmp}/hybridauth-deb.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
ROOT="$STAGE/hybridauth_${VERSION}_${ARCH}"
install -d -m 0755 "$ROOT/DEBIAN" "$ROOT/usr/bin" "$ROOT/etc/hybridauth" "$ROOT/lib/systemd/system" \
  "$ROOT/etc/logrotate.d" "$ROOT/usr/share/doc/hybridauth"
install -m 0755 "$TARGET_DIR/release/hybridauth" "$ROOT/usr/bin/hybridauth"
strip --strip-unneeded "$ROOT/usr/bin/hybridauth" 2>/dev/null || true
# The shipped configuration, with the store where the unit's StateDirectory is.
sed -e 's|^path = "hybridauth-data/hybridauth.sqlite3"|path = "/var/lib/hybridauth/hybridauth.sqlite3"|' \
  conf/hybridauth.toml > "$ROOT/etc/hybridauth/hybridauth.toml"
grep -q '^path = "/var/lib/hybridauth/hybridauth.sqlite3"' "$ROOT/etc/hybridauth/hybridauth.toml"
chmod 0640 "$ROOT/etc/hybridauth/hybridauth.toml"
install -m 0644 packaging/hybridauth.service "$ROOT/lib/systemd/system/hybridauth.service"
install -m 0644 packaging/hybridauth.logrotate "$ROOT/etc/logrotate.d/hybridauth"
install -m 0644 README.md docs/model.md "$ROOT/usr/share/doc/hybridauth/"
cat > "$ROOT/usr/share/doc/hybridauth/copyright" <<COPY
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: hybridauth
Files: *
Copyright: the hybridauth authors
License: see the project repository
COPY
for f in postinst prerm postrm; do install -m 0755 "packaging/debian/$f" "$ROOT/DEBIAN/$f"; done
printf '/etc/hybridauth/hybridauth.toml\n/etc/logrotate.d/hybridauth\n' > "$ROOT/DEBIAN/conffiles"
SIZE=$(du -sk "$ROOT" --exclude=DEBIAN | cut -f1)
cat > "$ROOT/DEBIAN/control" <<CONTROL
Package: hybridauth
Version: $VERSION
Architecture: $ARCH
Maintainer: hybridauth developers <hybridauth@localhost>
Installed-Size: $SIZE
Depends: adduser, libc6
Recommends: logrotate
Section: net
Priority: optional
Homepage: https://localhost/hybridauth
Description: RADIUS and LDAP front end with hybrid AD / Entra credential semantics
 One daemon with a RADIUS server (RFC 2865/2866) for VPN and Wi-Fi concentrators and an
 LDAP listener for legacy applications, behind one verifier that decides as Active Directory
 (domain passwords) and Microsoft Entra (app passwords) would, sync delay included.
CONTROL
mkdir -p "$TARGET_DIR/debian"
OUT="$TARGET_DIR/debian/hybridauth_${VERSION}_${ARCH}.deb"
dpkg-deb --root-owner-group --build "$ROOT" "$OUT" >/dev/null
echo "$OUT"
