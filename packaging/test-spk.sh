#!/usr/bin/env bash
# Checks a Synology package the way DSM would take it, without a DSM: the .spk's layout (INFO's
# keys and checksum, conf/privilege and conf/resource as valid JSON naming the port and the data
# share, the scripts, the icons, package.tgz's contents), then its scripts run in a fake DSM
# (temp dirs as SYNOPKG_PKGDEST, SYNOPKG_PKGVAR and the shared folder, as an unprivileged
# package user): install, start, status, /api/health, first-run setup, the web UI on the
# package's Node.js, stop; an upgrade keeps the settings and the library; an uninstall keeps the
# library and says where.
#   packaging/test-spk.sh alcoves-V-x86_64.spk
set -euo pipefail
spk="$(realpath "$1")"
[ "$(id -u)" = 0 ] || { echo "test-spk.sh: needs root (to act as the package's user)" >&2; exit 1; }
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

work="$(mktemp -d /var/tmp/alcoves-spk.XXXXXX)"
chmod 0755 "$work"
cleanup() {
    [ -n "${pkg:-}" ] && as_dsm start-stop-status stop 2>/dev/null || true
    rm -rf --one-file-system "$work"
}
trap cleanup EXIT

step "layout of $(basename "$spk")"
mkdir "$work/spk"
tar -C "$work/spk" -xf "$spk"
for f in INFO package.tgz LICENSE PACKAGE_ICON.PNG PACKAGE_ICON_256.PNG conf/privilege conf/resource \
    scripts/preinst scripts/postinst scripts/preuninst scripts/postuninst scripts/preupgrade \
    scripts/postupgrade scripts/start-stop-status; do
    [ -e "$work/spk/$f" ] || fail "no $f in the package"
done
for s in "$work"/spk/scripts/*; do
    [ "$(basename "$s")" = common ] || [ -x "$s" ] || fail "$(basename "$s") is not executable"
    sh -n "$s" || fail "$(basename "$s") is not valid sh"
done
info() { sed -n "s/^$1=\"\(.*\)\"\$/\1/p" "$work/spk/INFO"; }
for key in package version os_min_ver arch maintainer description displayname adminport adminurl checksum; do
    [ -n "$(info "$key")" ] || fail "INFO has no $key"
done
[ "$(info package)" = alcoves ] || fail "INFO package: $(info package)"
[[ "$(info version)" =~ ^[0-9][0-9.]*(-[0-9]+)$ ]] || fail "INFO version is not DSM's x.y.z-build: $(info version)"
[[ "$(info os_min_ver)" =~ ^7\.[1-9] ]] || fail "INFO os_min_ver: $(info os_min_ver)"
[ "$(md5sum "$work/spk/package.tgz" | cut -d' ' -f1)" = "$(info checksum)" ] || fail "INFO checksum is not package.tgz's"
file -b "$work/spk/PACKAGE_ICON_256.PNG" | grep -q '256 x 256' || fail "PACKAGE_ICON_256.PNG is not 256x256"
[ "$(json "['defaults']['run-as']" < "$work/spk/conf/privilege")" = package ] || fail "privilege: not run-as package"
protocol_file="$(json "['port-config']['protocol-file']" < "$work/spk/conf/resource")"
[ "$(json "['data-share']['shares'][0]['name']" < "$work/spk/conf/resource")" = alcoves ] || fail "resource: no data share"
mkdir "$work/target"
tar -C "$work/target" -xzf "$work/spk/package.tgz"
for f in bin/alcoves node/bin/node web/server/index.mjs "$protocol_file" doc/copyright; do
    [ -e "$work/target/$f" ] || fail "package.tgz has no $f"
done
grep -q "dst.ports=\"$(info adminport)/tcp\"" "$work/target/$protocol_file" || fail "the port DSM opens is not adminport"
echo "INFO: $(info package) $(info version) for $(info arch), DSM $(info os_min_ver) or newer, port $(info adminport)"

# The fake DSM: the package's folder, its var dir and the data share, owned by the package user
# (uid 65534 here) as DSM 7 makes them.
pkg="$work/packages/alcoves"
mkdir -p "$pkg/var" "$pkg/shares/alcoves"
mv "$work/target" "$pkg/target"
cp -a "$work/spk/scripts" "$pkg/scripts"
: > "$work/dsm-message"  # SYNOPKG_TEMP_LOGFILE: what DSM shows after a step
chown -R 65534:65534 "$pkg/var" "$pkg/shares/alcoves" "$work/dsm-message"
port=39311 web_port=39312
base_url="http://127.0.0.1:$port"
status=INSTALL
as_dsm() {
    setpriv --reuid=65534 --regid=65534 --clear-groups env -i PATH=/usr/bin:/bin \
        SYNOPKG_PKGNAME=alcoves SYNOPKG_PKGVER="$(info version)" SYNOPKG_DSM_VERSION_MAJOR=7 \
        SYNOPKG_PKGDEST="$pkg/target" SYNOPKG_PKGVAR="$pkg/var" SYNOPKG_PKGINST_TEMP_DIR="$pkg/target" \
        SYNOPKG_PKG_STATUS="$status" SYNOPKG_TEMP_LOGFILE="$work/dsm-message" \
        ALCOVES_LISTEN="127.0.0.1:$port" ALCOVES_WEB_LISTEN="127.0.0.1:$web_port" ALCOVES_LOG=warn \
        "$pkg/scripts/$1" "${@:2}"
}
wait_healthy() {
    for _ in $(seq 1 300); do
        curl -fsS "$base_url/api/health" >/dev/null 2>&1 && return 0
        as_dsm start-stop-status status || fail "the server exited: $(tail -n 5 "$pkg/var/alcoves.log")"
        sleep 0.2
    done
    fail "no /api/health within a minute"
}

step "install: preinst, postinst"
as_dsm preinst
as_dsm postinst
grep -q "^data_dir = \"$pkg/shares/alcoves/library\"" "$pkg/var/alcoves.toml" || fail "the library is not in the data share"
[ "$(stat -c '%a %u' "$pkg/var/alcoves.toml")" = "600 65534" ] || fail "settings mode: $(stat -c '%a %u' "$pkg/var/alcoves.toml")"

step "start-stop-status start, status, /api/health"
as_dsm start-stop-status status && fail "status says running before start"
as_dsm start-stop-status start
as_dsm start-stop-status status || fail "status says stopped after start"
wait_healthy
curl -fsS "$base_url/api/health" | json "['status']"
jar="$work/cookies"
curl -fsS -c "$jar" -H 'content-type: application/json' \
    -d '{"username":"olivia","password":"correct horse battery staple"}' "$base_url/api/_auth/register" >/dev/null
curl -fsS "$base_url/" | grep -q '__nuxt' || fail "the front door did not serve the web UI"
pgrep -f "$pkg/target/node/bin/node $pkg/target/web/server/index.mjs" >/dev/null || fail "the web UI does not run on the package's Node.js"

step "start-stop-status stop"
as_dsm start-stop-status stop
as_dsm start-stop-status status && fail "status says running after stop"
pgrep -f "$pkg/target/node/bin/node" >/dev/null && fail "the web UI outlived stop"
[ -s "$pkg/shares/alcoves/library/alcoves.db" ] || fail "no database in the library"

step "upgrade keeps the settings and the library"
echo '# edited by the owner' >> "$pkg/var/alcoves.toml"
status=UPGRADE
as_dsm preupgrade
as_dsm preuninst
as_dsm postuninst
rm -rf "$pkg/target"
mkdir "$pkg/target"
tar -C "$pkg/target" -xzf "$work/spk/package.tgz"
as_dsm preinst
as_dsm postinst
as_dsm postupgrade
grep -q '^# edited by the owner' "$pkg/var/alcoves.toml" || fail "the edited settings were replaced"
as_dsm start-stop-status start
wait_healthy
rm -f "$jar"
curl -fsS -c "$jar" -H 'content-type: application/json' \
    -d '{"username":"olivia","password":"correct horse battery staple"}' "$base_url/api/_auth/login" >/dev/null \
    || fail "the account did not survive the upgrade"
as_dsm start-stop-status stop

step "uninstall keeps the library and says where"
status=UNINSTALL
: > "$work/dsm-message"
as_dsm preuninst
as_dsm postuninst
grep -q "kept in $pkg/shares/alcoves/library" "$work/dsm-message" || fail "uninstall did not say where the library is: $(cat "$work/dsm-message")"
[ -s "$pkg/shares/alcoves/library/alcoves.db" ] || fail "the library went with the uninstall"
pkg=""
echo
echo "test-spk.sh: all checks passed for $(basename "$spk")"
