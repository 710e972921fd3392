#!/usr/bin/env bash
# System tools the benchmarks use besides PostGIS (which `netzatlas db up` installs): wrk, the load generator,
# and curl, which fetches pages as GDAL and QGIS do (libcurl); python3-qgis, QGIS 3.22 for Debian's
# /usr/bin/python3 (bench/qgis.py), which has no command of its own: it is asked for when `import qgis.core` fails.
set -euo pipefail
here="$(dirname "$0")"
"$here/apt-need.sh" "The benchmarks" wrk:wrk curl:curl
if ! QT_QPA_PLATFORM=offscreen /usr/bin/python3 -c 'import qgis.core' >/dev/null 2>&1; then
  "$here/apt-need.sh" "The QGIS benchmark" "import-qgis-core-failed:python3-qgis"
fi
