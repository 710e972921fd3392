#!/usr/bin/env bash
# System packages the tests use besides PostGIS (which `netzatlas db up` installs): none yet.
set -euo pipefail
exit 0
