#!/usr/bin/env bash
# Installs an Alcoves .deb into a clean Debian 12 root (debootstrap, cached for a week) with
# `apt-get install ./alcoves_*.deb`, so a missing dependency fails here, and checks it the way a
# NAS owner would use it: the units verify and rate as hardened, the server runs as the unit
# runs it (its user, its environment, its command), answers /api/health, takes the first-run
# setup and an upload that gets its thumbnails, and serves the web UI through the front door
# with the bundled Node.js; root's CLI commands leave nothing root-owned in the data dir; an
# upgrade to a higher version keeps the library and the edited settings; remove keeps settings
# and data; purge removes the settings and the account and keeps the data. alcoves-models (found
# beside the package) installs its checked models into the data dir and takes them back.
#   packaging/test-deb.sh alcoves_V_ARCH.deb
# An arm64 package is tested in an arm64 root, its programs run by qemu-user-static.
# The upgrade installs the same package rebuilt as version V+upgradetest.
set -euo pipefail
deb="$(realpath "$1")"
[ "$(id -u)" = 0 ] || { echo "test-deb.sh: needs root (debootstrap, chroot)" >&2; exit 1; }
cd "$(dirname "$0")/.."
cache="${ALCOVES_PACKAGING_CACHE:-/var/cache/alcoves-packaging}"
mirror="${ALCOVES_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
arch="$(dpkg-deb -f "$deb" Architecture)"
base="$cache/debian12-$arch-root.tar"
mkdir -p "$cache/apt-archives/partial"

step() { printf '\n== %s\n' "$*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

if [ -z "$(find "$base" -mtime -7 2>/dev/null)" ]; then
    step "debootstrap Debian 12 for $arch (minbase + systemd) into the cache"
    fresh="$(mktemp -d /var/tmp/alcoves-debootstrap.XXXXXX)"
    debootstrap --arch="$arch" --variant=minbase --include=systemd,ca-certificates bookworm "$fresh" "$mirror" >/dev/null
    cat > "$fresh/etc/apt/sources.list" <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SOURCES
    chroot "$fresh" apt-get update -q >/dev/null
    chroot "$fresh" apt-get clean
    tar -C "$fresh" -cf "$base.new" . && mv "$base.new" "$base"
    rm -rf "$fresh"
fi

root="$(mktemp -d /var/tmp/alcoves-root.XXXXXX)"
work="$(mktemp -d /var/tmp/alcoves-deb.XXXXXX)"
server=""
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
    for m in var/cache/apt/archives dev proc; do umount -l "$root/$m" 2>/dev/null || true; done
    rm -rf --one-file-system "$root" "$work"
}
trap cleanup EXIT

step "rebuilding $(basename "$deb") with a higher version for the upgrade"
dpkg-deb -R "$deb" "$work/tree"
sed -i 's/^Version: .*/&+upgradetest/' "$work/tree/DEBIAN/control"
upgrade="$work/$(basename "$deb" "_$arch.deb")+upgradetest_$arch.deb"
dpkg-deb -Zgzip -z1 --build "$work/tree" "$upgrade" >/dev/null
rm -rf "$work/tree"
tar -C "$root" -xf "$base"
chmod 0755 "$root"  # mktemp made it private; it is the service's /
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
mount --bind "$cache/apt-archives" "$root/var/cache/apt/archives"
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp "$deb" "$upgrade" "$root/tmp/"
in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }

step "apt-get install ./$(basename "$deb")"
in_root apt-get install -y -q "/tmp/$(basename "$deb")" | tail -3
in_root dpkg -s alcoves | grep -q '^Status: install ok installed' || fail "not installed"
in_root getent passwd alcoves >/dev/null || fail "no user alcoves"
owner_of() { in_root stat -c "$1" "$2"; }
[ "$(owner_of '%a %U' /var/lib/alcoves)" = "700 alcoves" ] || fail "data dir: $(owner_of '%a %U' /var/lib/alcoves)"
[ "$(owner_of '%a %U:%G' /etc/alcoves/alcoves.toml)" = "640 root:alcoves" ] || fail "settings file mode"
wants="$root/etc/systemd/system/multi-user.target.wants/alcoves.service"
[ -L "$wants" ] || fail "the service is not enabled for boot"

step "systemd units"
in_root systemd-analyze verify alcoves.service alcoves-worker@1.service
rating="$(in_root systemd-analyze security --offline=true /usr/lib/systemd/system/alcoves.service 2>&1 | sed -n 's/.*Overall exposure level for alcoves.service: \([0-9.]*\).*/\1/p')"
echo "systemd-analyze security: alcoves.service exposure $rating"
python3 -c "import sys; sys.exit(0 if float('$rating') <= 2.5 else 1)" || fail "exposure $rating > 2.5"

# The server as the unit runs it: its User=, Environment= and ExecStart=, and ports of our own.
unit="$root/usr/lib/systemd/system/alcoves.service"
user="$(sed -n 's/^User=//p' "$unit")"
unit_env="$(sed -n 's/^Environment=//p' "$unit")"
exec_start="$(sed -n 's/^ExecStart=//p' "$unit")"
port=39301 web_port=39302
base_url="http://127.0.0.1:$port"
start_server() {
    local ids
    ids="$(in_root getent passwd "$user" | cut -d: -f3,4)"
    # shellcheck disable=SC2086 # the unit's command line splits at spaces, as systemd does
    chroot --userspec="$ids" "$root" env -i PATH=/usr/bin:/bin HOME=/var/lib/alcoves $unit_env \
        ALCOVES_LISTEN="127.0.0.1:$port" ALCOVES_WEB_LISTEN="127.0.0.1:$web_port" ALCOVES_LOG=warn \
        $exec_start &
    server=$!
    for _ in $(seq 1 300); do
        curl -fsS "$base_url/api/health" >/dev/null 2>&1 && return 0
        kill -0 "$server" 2>/dev/null || fail "the server exited"
        sleep 0.2
    done
    fail "no /api/health within a minute"
}
stop_server() { kill "$server"; wait "$server" || true; server=""; }
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

step "first run"
start_server
curl -fsS "$base_url/api/health" | json "['status']"
jar="$root/tmp/cookies"
curl -fsS -c "$jar" -H 'content-type: application/json' \
    -d '{"username":"olivia","password":"correct horse battery staple"}' "$base_url/api/_auth/register" >/dev/null
library="$(curl -fsS -b "$jar" -H 'content-type: application/json' -d '{"name":"Photos"}' "$base_url/api/libraries" | json "['id']")"
photo="$(realpath ../shared/models/testdata/dog.jpg)"
file="$(curl -fsS -b "$jar" -H 'x-upload-name: dog.jpg' --data-binary "@$photo" "$base_url/api/libraries/$library/files" | json "['id']")"
thumb="$base_url/api/libraries/$library/files/$file/thumbnails/card"
for _ in $(seq 1 300); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' -b "$jar" "$thumb")" = 200 ] && break
    sleep 0.2
done
curl -fsS -b "$jar" -o "$root/tmp/card" "$thumb" || fail "no thumbnail within a minute"
echo "thumbnail: $(file -b "$root/tmp/card" 2>/dev/null || wc -c < "$root/tmp/card")"

step "web UI through the front door"
# The web UI starts beside the server; Node.js under qemu (arm64) takes a while longer.
page=""
for _ in $(seq 1 300); do
    page="$(curl -fsS "$base_url/" 2>/dev/null)" && break
    sleep 0.2
done
grep -q '__nuxt' <<<"$page" || fail "the front door did not serve the web UI"
pgrep -f '/usr/lib/alcoves/node/bin/node /usr/share/alcoves/web/server/index.mjs' >/dev/null \
    || fail "the web UI does not run on the bundled Node.js"
stop_server

step "alcoves-models: checked at install, linked into the data dir, taken back on remove"
models_deb="$(dirname "$deb")/alcoves-models_$(dpkg-deb -f "$deb" Version)_all.deb"
[ -f "$models_deb" ] || fail "no $models_deb beside the server's package"
cp "$models_deb" "$root/tmp/"
# The service account owns the data dir: a link it planted must not make root's postinst work
# elsewhere (here, hand /etc/alcoves-bait to the account).
mkdir -p "$root/etc/alcoves-bait/objects"
chmod 0755 "$root/etc/alcoves-bait"
in_root setpriv --reuid=alcoves --regid=alcoves --init-groups ln -s /etc/alcoves-bait /var/lib/alcoves/models
in_root apt-get install -y -q "/tmp/$(basename "$models_deb")" | tail -1
[ "$(owner_of '%a %U' /etc/alcoves-bait)" = "755 root" ] || fail "postinst followed the planted link: $(owner_of '%a %U' /etc/alcoves-bait)"
[ -z "$(ls -A "$root/etc/alcoves-bait/objects")" ] || fail "postinst wrote through the planted link"
in_root rm /var/lib/alcoves/models
rm -rf "$root/etc/alcoves-bait"
in_root dpkg-reconfigure alcoves-models
# `models list` fails while any model is missing, as the face embedder is.
listed="$(in_root alcoves models list || true)"
for model in face-detector object-detector image-tagger audio-events whisper-base text-embedder places; do
    grep -Eq "^$model +[a-z_]+ +installed" <<<"$listed" || fail "$model is not installed: $listed"
done
grep -Eq '^face-embedder +faces +missing' <<<"$listed" || fail "the face embedder has no licence to ship: $listed"
[ "$(owner_of '%U' /var/lib/alcoves/models/objects/yolox_nano.onnx)" = alcoves ] || fail "model links are not the data's owner's"
in_root apt-get remove -y -q alcoves-models | tail -1
[ -z "$(find "$root/var/lib/alcoves/models" -type l)" ] || fail "links left after removing alcoves-models"
listed="$(in_root alcoves models list || true)"
grep -Eq '^places +[a-z_]+ +missing' <<<"$listed" || fail "places still installed after remove: $listed"

step "root's CLI acts as the data's owner"
in_root alcoves user list | grep -q olivia || fail "user list"
in_root alcoves library bind "$library" /usr/share/doc | grep -q 'BindReadOnlyPaths=/usr/share/doc' \
    || fail "bind does not explain the drop-in"
in_root alcoves library unbind "$library" >/dev/null
chroot --userspec=65534:65534 "$root" /usr/bin/alcoves settings | grep -q '^# data_dir = ' \
    || fail "someone who may not read the settings file cannot print the defaults"
owned_by_root="$(find "$root/var/lib/alcoves" -user root)"
[ -z "$owned_by_root" ] || fail "root-owned files in the data dir: $owned_by_root"

step "upgrade to $(basename "$upgrade")"
echo '# edited by the owner' >> "$root/etc/alcoves/alcoves.toml"
in_root apt-get install -y -q "/tmp/$(basename "$upgrade")" | tail -2
new_version="$(in_root dpkg-query -W -f '${Version}' alcoves)"
[ "$new_version" = "$(dpkg-deb -f "$upgrade" Version)" ] || fail "version after upgrade: $new_version"
grep -q '^# edited by the owner' "$root/etc/alcoves/alcoves.toml" || fail "the edited settings were replaced"
start_server
rm -f "$jar"
curl -fsS -c "$jar" -H 'content-type: application/json' \
    -d '{"username":"olivia","password":"correct horse battery staple"}' "$base_url/api/_auth/login" >/dev/null \
    || fail "the account did not survive the upgrade"
curl -fsS -b "$jar" -o /dev/null "$thumb" || fail "the file did not survive the upgrade"
stop_server

step "remove keeps settings and data"
in_root apt-get remove -y -q alcoves | tail -1
[ ! -e "$root/usr/bin/alcoves" ] || fail "binary left after remove"
[ -f "$root/etc/alcoves/alcoves.toml" ] || fail "settings gone after remove"
[ ! -e "$wants" ] || fail "still enabled after remove"
in_root getent passwd alcoves >/dev/null || fail "user gone after remove"

step "purge removes settings and the account, keeps the library"
said="$(in_root dpkg --purge alcoves 2>&1)"
grep -q 'kept in /var/lib/alcoves' <<<"$said" || fail "purge did not say where the library is: $said"
[ ! -e "$root/etc/alcoves" ] || fail "settings left after purge"
! in_root getent passwd alcoves >/dev/null || fail "user left after purge"
[ -s "$root/var/lib/alcoves/alcoves.db" ] || fail "the database went with the purge"
[ "$(owner_of '%a %U' /var/lib/alcoves)" = "700 root" ] || fail "the kept library is not handed to root"
[ ! -L "$root/etc/systemd/system/alcoves.service" ] || fail "the service is still masked after purge"
[ -n "$(find "$root/var/lib/alcoves" -type f -size +10k -not -name 'alcoves.db*' -print -quit)" ] || fail "the photos went with the purge"
echo
echo "test-deb.sh: all checks passed for $(basename "$deb") -> $(basename "$upgrade")"
