################################################################################
#
# alcoves
#
################################################################################

# Built from the source tree this br2-external tree is part of; keep the
# version in sync with Cargo.toml. To build a release tarball instead,
# drop ALCOVES_SITE_METHOD, point ALCOVES_SITE at the directory holding
# alcoves-$(ALCOVES_VERSION).tar.gz and add the tarball's sha256 to
# alcoves.hash: the cargo infrastructure then vendors the crates in the
# download step (it overwrites .cargo/config.toml, whose settings are
# therefore repeated in ALCOVES_CARGO_ENV below).
ALCOVES_VERSION = 0.1.0
ALCOVES_SITE = $(BR2_EXTERNAL_ALCOVES_PATH)/..
ALCOVES_SITE_METHOD = local
ALCOVES_LICENSE = AGPL-3.0-or-later
# The repository has no license file yet: once it has one, list it in
# ALCOVES_LICENSE_FILES and add its sha256 to alcoves.hash.

# Build outputs and caches of a developer's checkout stay out of the copy.
ALCOVES_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS = \
	--exclude /target --exclude /data --exclude /.cargo/ffmpeg-pc \
	--exclude /web-dist-proxy/node_modules \
	--exclude /web-dist-proxy/.nuxt --exclude /web-dist-proxy/.output

ALCOVES_DEPENDENCIES = \
	host-clang \
	host-nodejs \
	host-pkgconf \
	$(BR2_CMAKE_HOST_DEPENDENCY) \
	ffmpeg \
	libheif \
	nodejs

# - rusty_ffmpeg (rsmpeg) and turbojpeg-sys find their libraries with
#   pkg-config; with PKG_CONFIG_SYSROOT_DIR set, the pkg-config crate
#   links the staging libraries dynamically. rsmpeg 0.14 is written
#   for FFmpeg 6.1, the version Buildroot has; its "ffmpeg5" feature
#   only leaves out the API that FFmpeg 6 added.
# - libheif-rs builds its bundled libheif with cmake ("embedded-libheif")
#   and finds it with pkg-config, which Buildroot's pkg-config would
#   prefix with the sysroot: link Buildroot's libheif (the same 1.23.1)
#   instead.
# - bindgen (rusty_ffmpeg, whisper-rs-sys) loads libclang from
#   host-clang and parses the headers of the staging sysroot.
# - whisper-rs-sys builds whisper.cpp with cmake and Buildroot's
#   toolchain file.
ALCOVES_CARGO_ENV = \
	PKG_CONFIG_SYSROOT_DIR="$(STAGING_DIR)" \
	FFMPEG_PKG_CONFIG_PATH="$(STAGING_DIR)/usr/lib/pkgconfig" \
	SYSTEM_DEPS_LIBHEIF_NO_PKG_CONFIG=1 \
	SYSTEM_DEPS_LIBHEIF_LIB=heif \
	SYSTEM_DEPS_LIBHEIF_SEARCH_NATIVE="$(STAGING_DIR)/usr/lib" \
	LIBCLANG_PATH="$(HOST_DIR)/lib" \
	BINDGEN_EXTRA_CLANG_ARGS="--sysroot=$(STAGING_DIR)" \
	CMAKE="$(BR2_CMAKE)" \
	CMAKE_TOOLCHAIN_FILE_$(subst -,_,$(RUSTC_TARGET_NAME))="$(HOST_DIR)/share/buildroot/toolchainfile.cmake" \
	GGML_NATIVE=OFF

ALCOVES_CARGO_BUILD_OPTS = --bin alcoves

# turbojpeg links Buildroot's libjpeg-turbo when it is the jpeg provider,
# otherwise it builds its bundled copy (with SIMD, so nasm on x86).
ifeq ($(BR2_PACKAGE_JPEG_TURBO),y)
ALCOVES_DEPENDENCIES += jpeg-turbo
ALCOVES_CARGO_ENV += TURBOJPEG_SOURCE=pkg-config
else ifeq ($(BR2_X86_CPU_HAS_MMX),y)
ALCOVES_DEPENDENCIES += host-nasm
endif

ifeq ($(BR2_ENABLE_DEBUG),y)
ALCOVES_BIN_DIR = $(@D)/target/$(RUSTC_TARGET_NAME)/debug
else
ALCOVES_BIN_DIR = $(@D)/target/$(RUSTC_TARGET_NAME)/release
endif

# Host npm, not $(NPM): that one is set up to install target modules.
ALCOVES_NPM = $(HOST_MAKE_ENV) npm_config_cache=$(ALCOVES_DL_DIR)/npm-cache \
	$(HOST_DIR)/bin/npm

# A local site has no download step, so the cargo infrastructure does
# not vendor the crates: fetch them into Buildroot's cargo home here,
# for the offline cargo build. Buildroot has no download step for npm
# packages at all (nodejs' own "additional modules" are installed from
# the network too), so "npm ci" also runs here. This is the only step
# that needs network access; the npm cache is kept in the download
# directory, so a rebuild can do without.
define ALCOVES_FETCH_DEPENDENCIES
	mkdir -p $(BR_CARGO_HOME)
	cd $(@D) && $(HOST_MAKE_ENV) $(PKG_COMMON_CARGO_ENV) \
		flock $(BR_CARGO_HOME)/.br-lock cargo fetch --locked
	cd $(@D)/web-dist-proxy && \
		$(ALCOVES_NPM) ci --prefer-offline --no-audit --no-fund
endef
ALCOVES_PRE_BUILD_HOOKS += ALCOVES_FETCH_DEPENDENCIES

# The web UI (Nuxt) is plain JavaScript: built with host-nodejs, run by
# the target's nodejs.
define ALCOVES_BUILD_WEB_UI
	cd $(@D)/web-dist-proxy && $(ALCOVES_NPM) run build
endef
ALCOVES_POST_BUILD_HOOKS += ALCOVES_BUILD_WEB_UI

# The machine learning models are not part of the package: they are
# installed on the target with "alcoves models install".
define ALCOVES_INSTALL_TARGET_CMDS
	$(INSTALL) -D -m 0755 $(ALCOVES_BIN_DIR)/alcoves \
		$(TARGET_DIR)/usr/bin/alcoves
	rm -rf $(TARGET_DIR)/usr/share/alcoves/web
	mkdir -p $(TARGET_DIR)/usr/share/alcoves/web
	cp -dpfr $(@D)/web-dist-proxy/.output/. \
		$(TARGET_DIR)/usr/share/alcoves/web/
	$(INSTALL) -D -m 0644 $(ALCOVES_PKGDIR)/alcoves.toml \
		$(TARGET_DIR)/etc/alcoves/alcoves.toml
endef

define ALCOVES_INSTALL_INIT_SYSTEMD
	$(INSTALL) -D -m 0644 $(@D)/systemd/alcoves.service \
		$(TARGET_DIR)/usr/lib/systemd/system/alcoves.service
	$(INSTALL) -D -m 0644 $(@D)/systemd/alcoves-worker@.service \
		$(TARGET_DIR)/usr/lib/systemd/system/alcoves-worker@.service
endef

define ALCOVES_USERS
	alcoves -1 alcoves -1 * /var/lib/alcoves - - Alcoves media library
endef

$(eval $(cargo-package))
