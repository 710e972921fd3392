#!/usr/bin/env bash
# Install the Debian packages whose command is missing: apt-need.sh WHO COMMAND:PACKAGE ...
# (as root with apt-get; otherwise say what to install and fail). Used by test-deps.sh and bench-deps.sh.
set -euo pipefail
who=$1
shift
missing=()
for pair in "$@"; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "$who need: ${missing[*]} (Debian/Ubuntu: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
