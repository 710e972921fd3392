#!/usr/bin/env bash
# System tools the tests use besides PostGIS (which `netzatlas db up` installs): GDAL's ogrinfo/ogr2ogr,
# the real OGC API client the tests check the API with, and Chromium for the web pages.
set -euo pipefail
missing=()
command -v ogrinfo >/dev/null 2>&1 || missing+=(gdal-bin)
# the web map is tested in Debian's Chromium, driven by Playwright (which downloads no browser)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "The tests need: ${missing[*]} (Debian/Ubuntu: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
