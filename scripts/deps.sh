#!/bin/bash
#
# deps.sh: installs every Debian 12 package evproc needs to build, run and
# test (apt-get; as root, or with sudo); debootstrap makes the chroots of
# the version matrix (scripts/chroot.sh).  Does nothing when all are there.
# "deps.sh --list" only prints the list (.ci/run installs it itself).
#
set -euo pipefail

PACKAGES="
	build-essential ca-certificates curl
	postgresql-15 postgresql-server-dev-15
	libmicrohttpd-dev libjson-c-dev libcurl4-openssl-dev zlib1g-dev
	libipc-run-perl libio-socket-ssl-perl valgrind clang libclang-rt-14-dev
	iproute2 util-linux python3 prometheus chromium openssl
	debootstrap debian-archive-keyring
"

if [ "${1:-}" = --list ]; then
	echo $PACKAGES
	exit 0
fi

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
