#!/usr/bin/env bash
# Checks the .rpm packages' layout with rpm itself: name, version and architecture; the files
# (server, web UI, Node.js, units, sysusers/tmpfiles, the settings as a config file readable by
# the service's group only); what they require; and the scriptlets (valid sh, each doing its
# part: the account before the files, the private data dir, stop on erase, restart on upgrade,
# the library kept). alcoves-models beside it: its models with their digests, and the scriptlets
# that check and link them.
#   packaging/test-rpm.sh alcoves-V-1.x86_64.rpm
set -euo pipefail
rpm_file="$(realpath "$1")"
models_rpm="$(dirname "$rpm_file")/$(basename "$rpm_file" | sed -E 's/^alcoves-(.*)\.[a-z0-9_]+\.rpm$/alcoves-models-\1.noarch.rpm/')"

fail() { echo "FAIL: $*" >&2; exit 1; }
query() { rpm -qp --nosignature "$@" 2>/dev/null; }
has() { grep -Fqx -- "$2" <<<"$1" || fail "$3"; }

echo "== $(basename "$rpm_file")"
query --info "$rpm_file" | sed -n '1,4p'
[ "$(query --qf '%{NAME} %{ARCH}' "$rpm_file")" = "alcoves $(basename "$rpm_file" .rpm | sed 's/.*\.//')" ] \
    || fail "name or architecture: $(query --qf '%{NAME} %{ARCH}' "$rpm_file")"
files="$(query --list "$rpm_file")"
for f in /usr/bin/alcoves /usr/lib/alcoves/node/bin/node /usr/share/alcoves/web/server/index.mjs \
    /usr/lib/systemd/system/alcoves.service /usr/lib/systemd/system/alcoves-worker@.service \
    /usr/lib/sysusers.d/alcoves.conf /usr/lib/tmpfiles.d/alcoves.conf /etc/alcoves/alcoves.toml \
    /usr/share/doc/alcoves/copyright; do
    has "$files" "$f" "no $f in the package"
done
grep -q DEBIAN <<<"$files" && fail "the .deb's control files went into the .rpm"
has "$(query --configfiles "$rpm_file")" /etc/alcoves/alcoves.toml "the settings are not a config file"
modes="$(query --qf '[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILENAMES}\n]' "$rpm_file")"
has "$modes" "-rw-r----- root:alcoves /etc/alcoves/alcoves.toml" "settings mode: $(grep alcoves.toml <<<"$modes")"
has "$modes" "-rwxr-xr-x root:root /usr/bin/alcoves" "binary mode: $(grep bin/alcoves <<<"$modes")"
requires="$(query --requires "$rpm_file")"
has "$requires" /usr/sbin/useradd "the account's tool is not required before install"
grep -q '^libc.so.6' <<<"$requires" || fail "no requirement computed from the binaries: $requires"
echo "requires: $(grep -c . <<<"$requires") entries, e.g. $(grep -E '^lib(avcodec|c)\.so\.[0-9]+\(\)' <<<"$requires" | tr '\n' ' ')"

scripts="$(query --scripts "$rpm_file")"
scriptlet() { awk -v want="$1 scriptlet" 'index($0, want) == 1 { on = 1; next } /scriptlet \(using/ { on = 0 } on' <<<"$2"; }
check_scriptlet() {
    local body
    body="$(scriptlet "$1" "$3")"
    [ -n "$body" ] || fail "no $1 scriptlet"
    sh -n <<<"$body" || fail "$1 scriptlet is not valid sh"
    grep -q -- "$2" <<<"$body" || fail "$1 scriptlet does not $2"
}
check_scriptlet preinstall 'useradd --system' "$scripts"
check_scriptlet postinstall 'install -d -m 0700 -o alcoves' "$scripts"
check_scriptlet preuninstall 'disable --now alcoves.service' "$scripts"
check_scriptlet postuninstall 'try-restart alcoves.service' "$scripts"
check_scriptlet postuninstall 'is kept in /var/lib/alcoves' "$scripts"

echo "== $(basename "$models_rpm")"
[ -f "$models_rpm" ] || fail "no $models_rpm beside the server's package"
[ "$(query --qf '%{ARCH}' "$models_rpm")" = noarch ] || fail "alcoves-models is not noarch"
has "$(query --requires "$models_rpm")" alcoves "alcoves-models does not require alcoves"
files="$(query --list "$models_rpm")"
for f in /usr/share/alcoves/models/SHA256SUMS /usr/share/alcoves/models/objects/yolox_nano.onnx /usr/share/doc/alcoves-models/manifest.toml; do
    has "$files" "$f" "no $f in alcoves-models"
done
scripts="$(query --scripts "$models_rpm")"
check_scriptlet postinstall 'sha256sum --quiet --strict -c SHA256SUMS' "$scripts"
check_scriptlet postinstall 'set -- configure' "$scripts"
check_scriptlet postuninstall 'set -- remove' "$scripts"
echo
echo "test-rpm.sh: all checks passed for $(basename "$rpm_file") and $(basename "$models_rpm")"
