#!/bin/bash
#
# deps.sh: installs every Debian 12 package evproc needs to build, run and
# test (apt-get; as root, or with sudo).  Does nothing when all are there.
#
set -euo pipefail

PACKAGES="
	build-essential ca-certificates curl
	postgresql-15 postgresql-server-dev-15
	libmicrohttpd-dev libjson-c-dev libcurl4-openssl-dev
	libipc-run-perl valgrind clang libclang-rt-14-dev
"

if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi

# shellcheck disable=SC2086
if dpkg -s $PACKAGES >/dev/null 2>&1; then
	echo "== packages: all installed"
	exit 0
fi
echo "== installing packages"
$SUDO apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
	--no-install-recommends $PACKAGES >/dev/null
