# Sourced by build.sh for `--arch arm64`: makes this amd64 Debian 12 machine build and run arm64
# binaries. rustup cannot fetch another target here, so Debian's own Rust (rustc-web, with its
# arm64 standard library) is unpacked into a private folder and used through RUSTC; gcc's cross
# toolchain links; FFmpeg and the HEIF codecs come as Debian's arm64 -dev packages (multiarch);
# qemu-user-static runs the arm64 binaries (registered with binfmt_misc, so a chroot runs them).
cross="${ALCOVES_CROSS_CACHE:-/var/cache/alcoves-cross}"
cross_packages=(gcc-aarch64-linux-gnu g++-aarch64-linux-gnu qemu-user-static
    libavcodec-dev:arm64 libavformat-dev:arm64 libavutil-dev:arm64 libswscale-dev:arm64
    libswresample-dev:arm64 libavfilter-dev:arm64 libavdevice-dev:arm64 libde265-dev:arm64 libdav1d-dev:arm64
    libc6-dev:arm64 libstdc++-12-dev:arm64)
missing=()
for p in "${cross_packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
    dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi
rust_root="$cross/rust"
if [ ! -x "$rust_root/usr/bin/rustc" ]; then
    mkdir -p "$cross/debs"
    (cd "$cross/debs" && apt-get download -q rustc-web libstd-rust-web-dev libstd-rust-web-1.96 libllvm22 \
        libstd-rust-web-dev:arm64 libstd-rust-web-1.96:arm64)
    for deb in "$cross"/debs/*.deb; do dpkg -x "$deb" "$rust_root"; done
fi
cat > "$cross/rustc" <<RUSTC
#!/bin/sh
LD_LIBRARY_PATH="$rust_root/usr/lib/x86_64-linux-gnu" exec "$rust_root/usr/bin/rustc" "\$@"
RUSTC
chmod 0755 "$cross/rustc"
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    [ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    cat /usr/lib/binfmt.d/qemu-aarch64.conf > /proc/sys/fs/binfmt_misc/register
fi
# FFmpeg's arm64 .pc files without Libs.private, as .ci/install-deps makes them for amd64.
mkdir -p "$cross/ffmpeg-pc"
for f in /usr/lib/aarch64-linux-gnu/pkgconfig/lib{avcodec,avdevice,avfilter,avformat,avutil,swresample,swscale,postproc}.pc; do
    if [ -e "$f" ]; then sed -E '/^(Libs.private|Requires.private):/d' "$f" > "$cross/ffmpeg-pc/${f##*/}"; fi
done
export RUSTC="$cross/rustc"
export CARGO_BUILD_TARGET=aarch64-unknown-linux-gnu
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc CXX_aarch64_unknown_linux_gnu=aarch64-linux-gnu-g++
export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
export PKG_CONFIG_ALLOW_CROSS=1 PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig
export FFMPEG_PKG_CONFIG_PATH="$cross/ffmpeg-pc"
export BINDGEN_EXTRA_CLANG_ARGS_aarch64_unknown_linux_gnu="--target=aarch64-linux-gnu"
