#!/usr/bin/env bash
# System tools the benchmarks use besides PostGIS (which `netzatlas db up` installs): wrk, the load generator,
# and curl, which fetches pages as GDAL and QGIS do (libcurl).
exec "$(dirname "$0")/apt-need.sh" "The benchmarks" wrk:wrk curl:curl
