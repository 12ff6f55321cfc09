#!/usr/bin/env bash
# Installs the Debian packages Ferry needs to build, run and test.
# Idempotent and non-interactive: only missing packages are installed.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libboost-program-options1.81-dev
  libsqlite3-dev libsodium-dev libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libpq-dev libhiredis-dev
  python3-botocore python3-websockets
  gnuplot-nox jq
  # the TLS tests make a self-signed certificate with the openssl command
  openssl
  # make fuzz: libFuzzer with ASan/UBSan (clang's runtimes, libclang-rt);
  # llvm-16 for llvm-symbolizer, which the runtimes need to name the
  # functions and lines of a crash's stack
  clang-16 libclang-rt-16-dev llvm-16
  # cluster mode and its tests: real Redis Cluster, PostgreSQL 15, HAProxy;
  # deploy/ also uses curl (health checks) and ss (free ports)
  redis-server redis-tools postgresql-15 haproxy curl iproute2
  # the web client's browser tests drive Debian's chromium (Playwright never
  # downloads a browser)
  chromium
)
# The web client (web/) is built and tested with Node.js and npm; Debian's
# are installed only when there is no node at all (a newer Node.js from
# elsewhere is kept; Playwright needs Node.js 20 or newer).
command -v node >/dev/null 2>&1 || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
