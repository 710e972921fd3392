#!/usr/bin/env bash
# System tools the tests use besides PostGIS (which `netzatlas db up` installs): GDAL's ogrinfo/ogr2ogr,
# the real OGC API client the tests check the API with, and Chromium for the web pages (driven by
# Playwright, which downloads no browser).
exec "$(dirname "$0")/apt-need.sh" "The tests" ogrinfo:gdal-bin chromium:chromium
