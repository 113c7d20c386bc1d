#!/bin/bash
#
# pkgtest.sh: the Debian packages' install test, as a user would do it, in
# a fresh chroot of a Debian release (root; network to the Debian mirror).
#
#   scripts/pkgtest.sh [--no-build] [--repack] [SUITE]
#   scripts/pkgtest.sh --build-deps
#                        SUITE: bookworm (default, PostgreSQL 15), trixie
#                        (17), sid (18)
#
# --no-build: the install test only, with the packages of the last run
# --repack: X+1 is X's packages with the version changed (dpkg-deb), not
#           a second build (saves a build's minutes; the upgrade is the same)
# --build-deps: prints the Debian packages building on this machine needs
#           (.ci/run installs them before it runs three of these at once:
#           three apt-get at once would fight over apt's lock)
#
# 1. builds the packages (scripts/pkgbuild.sh, lintian clean) at this
#    tree's version X, then again as X+1 (X followed by "+pkgtest1"); on
#    the host if it runs SUITE, else in a chroot of SUITE;
# 2. on the host's suite, also builds the last revision of the previous
#    schema version (EVPROC_PKGTEST_OLD_REV, "none" to skip; found from
#    git history as the parent of the commit that set evproc.control's
#    default_version), to upgrade from it;
# 3. in a fresh chroot of SUITE, runs scripts/pkgtest_inside.sh: apt
#    install into the distribution's cluster, use, upgrade old -> X -> X+1
#    with ALTER EXTENSION UPDATE, apt remove.
#
# The chroots: scripts/chroot.sh create SUITE makes (or reuses) one in
# EVPROC_PKGTEST_CACHE/SUITE (default /var/cache/evproc-pkgtest, apart
# from the version matrix's, which its tests use at the same time); each
# build and each install test works in a copy of it, thrown away after.
# Work files in EVPROC_PKGTEST_WORK/SUITE (default /var/tmp/evproc-pkgtest;
# kept for inspection).
# CHROOT_SH overrides scripts/chroot.sh.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
# what building the packages on this machine needs (apt)
build_deps="dpkg-dev debhelper lintian fakeroot git python3 debootstrap
	postgresql-server-dev-all libcurl4-openssl-dev libgnutls28-dev
	libjson-c-dev libmicrohttpd-dev zlib1g-dev"
nobuild= repack=
while [ $# -gt 0 ]; do
	case $1 in
	--build-deps) echo $build_deps; exit 0 ;;
	--no-build) nobuild=1 ;;
	--repack) repack=1 ;;
	*) break ;;
	esac
	shift
done
suite="${1:-bookworm}"
CHROOT_SH="${CHROOT_SH:-$here/scripts/chroot.sh}"
work=${EVPROC_PKGTEST_WORK:-/var/tmp/evproc-pkgtest}/$suite
cache=${EVPROC_PKGTEST_CACHE:-/var/cache/evproc-pkgtest}/$suite
start=$(date +%s)
step() { echo "== $(date -u +%T) (+$(( $(date +%s) - start ))s) $*"; }

[ "$(id -u)" = 0 ] || { echo "pkgtest.sh: run as root (chroot, apt)" >&2; exit 2; }

# unmounted DIR: nothing is mounted under DIR (never rm -rf through /dev);
# readlink -m, since DIR or its parent may not exist yet on a new machine
unmounted() { ! grep -q " $(readlink -m "$1")/" /proc/mounts; }
# fresh_chroot DIR: a copy of the cached chroot of SUITE, made if need be
fresh_chroot() {
	"$CHROOT_SH" create "$suite" "$cache" | sed 's/^/   /'
	unmounted "$1" || { echo "pkgtest.sh: mounts under $1" >&2; exit 1; }
	rm -rf "$1"
	cp -a "$cache" "$1"
	updates "$1"
}

# updates DIR: the suite's security and stable updates in DIR's apt
# sources, as on a user's Debian system (the host's packages may be built
# against a newer PostgreSQL minor release, from them, than the release's
# first one: pg_buildext makes the package depend on the newer one)
updates() {
	local mirror security
	[ "$suite" = sid ] || [ "$suite" = unstable ] && return 0
	mirror=$(awk '$1 == "deb" { print $NF == "main" ? $(NF - 2) : $2; exit }' "$1/etc/apt/sources.list")
	security=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
		tr ' \t' '\n\n' | grep -E -m1 '^https?://[^ ]*/debian-security/?$' || true)
	printf 'deb %s %s-updates main\ndeb %s %s-security main\n' "$mirror" "$suite" \
		"${security:-http://deb.debian.org/debian-security}" "$suite" >> "$1/etc/apt/sources.list"
}

unmounted "$work" || { echo "pkgtest.sh: mounts under $work" >&2; exit 1; }
if [ -z "$nobuild" ]; then
	rm -rf "$work"
	mkdir -p "$work"
fi

# shellcheck disable=SC2086
if [ -z "$nobuild" ] && ! dpkg -s $build_deps >/dev/null 2>&1; then
	step "apt-get install the build dependencies"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $build_deps >/dev/null
fi

# free_port: a TCP port nobody listens on now
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

if [ -z "$nobuild" ]; then
	host_suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
	version=$(cd "$here" && dpkg-parsechangelog -S Version)
	old_rev=
	if [ "$suite" = "$host_suite" ]; then
		old_rev=${EVPROC_PKGTEST_OLD_REV:-}
		if [ -z "$old_rev" ]; then
			# the parent of the commit that set the current default_version
			cur=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$here/evproc.control")
			set_by=$(cd "$here" && git log -1 --format=%H -S"default_version = '$cur'" -- evproc.control)
			[ -n "$set_by" ] && old_rev=$(cd "$here" && git rev-parse -q --verify "$set_by^" || true)
		fi
		[ "$old_rev" = none ] && old_rev=
	fi

	# build DIR VERSION [REV] [--no-lintian]: the packages, into DIR
	if [ "$suite" = "$host_suite" ]; then
		build() {
			local lint=
			[ "${4:-}" ] && lint=--no-lintian
			"$here/scripts/pkgbuild.sh" $lint "$1" "$2" ${3:-} | tee "$1.out"
		}
	else
		# in a chroot of SUITE with the build dependencies, once for all builds
		broot=$work/build-root
		step "build chroot of $suite"
		fresh_chroot "$broot"
		mkdir -p "$broot/src"
		(cd "$here" && git ls-files -z -c -o --exclude-standard | tar --null -T - -cf -) | tar -C "$broot/src" -xf -
		(cd "$broot/src" && git init -q && git add -A && git -c user.name=pkgtest -c user.email=pkgtest@localhost commit -qm tree) 2>/dev/null ||
			{ echo "pkgtest.sh: git is needed on the host" >&2; exit 1; }
		"$CHROOT_SH" run "$broot" env DEBIAN_FRONTEND=noninteractive sh -c '
			apt-get update -qq &&
			apt-get install -y -qq --no-install-recommends dpkg-dev debhelper lintian git \
				postgresql-server-dev-all libcurl4-openssl-dev libgnutls28-dev libjson-c-dev \
				libmicrohttpd-dev zlib1g-dev ca-certificates >/dev/null'
		build() {
			local lint=
			[ "${4:-}" ] && lint=--no-lintian
			mkdir -p "$1"
			"$CHROOT_SH" run "$broot" sh -c "cd /src && scripts/pkgbuild.sh $lint /out '$2' ${3:-}" | tee "$1.out"
			cp "$broot"/out/*.deb "$broot"/out/*.changes "$broot"/out/build.log "$1"/
			rm -rf "$broot/out"
			sed -i "s|^/out/|$1/|" "$1.out"
		}
	fi

	if [ -n "$old_rev" ]; then
		step "build $(cd "$here" && git log -1 --format='%h (%ad)' --date=short "$old_rev") (the previous schema version)"
		oldver=$(cd "$here" && git show "$old_rev:evproc.control" | sed -n "s/^default_version = '\(.*\)'/\1/p")-0
		build "$work/old" "$oldver" "$old_rev" --no-lintian
	fi
	step "build $version (lintian)"
	build "$work/new" "" ""
	if [ -n "$repack" ]; then
		step "repack $version as $version+pkgtest1 (a newer version)"
		mkdir -p "$work/newer"
		for deb in $(grep '\.deb$' "$work/new.out"); do
			rm -rf "$work/repack"
			dpkg-deb -R "$deb" "$work/repack"
			sed -i "s/^Version: .*/Version: $version+pkgtest1/" "$work/repack/DEBIAN/control"
			dpkg-deb -b "$work/repack" "$work/newer/" | sed -n "s|.*in '\(.*\)'.*|\1|p"
		done > "$work/newer.out"
		rm -rf "$work/repack"
		cat "$work/newer.out"
	else
		step "build $version+pkgtest1 (the same tree, a newer version)"
		build "$work/newer" "$version+pkgtest1" "" --no-lintian
	fi

	if [ -n "${broot:-}" ] && unmounted "$broot"; then rm -rf "$broot"; fi

fi

dirs=()
for b in old new newer; do
	[ -f "$work/$b.out" ] || continue
	[ -n "$nobuild" ] || { mkdir -p "$work/debs/$b"; grep '\.deb$' "$work/$b.out" | grep -v -- -dbgsym_ | xargs -r cp -t "$work/debs/$b"; }
	ls -s "$work/debs/$b"
	dirs+=("/pkgtest/$b")
done
pgv=$(ls "$work/debs/new" | sed -n 's/^postgresql-\([0-9]*\)-evproc_.*/\1/p' | head -1)

root=$work/root
step "fresh chroot of $suite"
fresh_chroot "$root"
mkdir -p "$root/pkgtest"
cp -r "$work/debs"/* "$root/pkgtest/"
cp "$here/scripts/pkgtest_inside.sh" "$root/pkgtest/"
step "install test in the chroot (PostgreSQL $pgv)"
rc=0
"$CHROOT_SH" run "$root" bash /pkgtest/pkgtest_inside.sh "$pgv" "$(free_port)" "$(free_port)" "${dirs[@]}" || rc=$?
# a server left running by a failed test holds the chroot's files
if [ $rc != 0 ]; then
	"$CHROOT_SH" run "$root" sh -c "pg_ctlcluster $pgv main stop -m immediate" >/dev/null 2>&1 || true
fi
# never remove a chroot with something still mounted in it (/dev!)
if ! unmounted "$root"; then
	echo "pkgtest.sh: mounts left under $root, not removed" >&2
	rc=1
else
	rm -rf "$root"
fi
step "pkgtest.sh $suite: $([ $rc = 0 ] && echo PASS || echo FAIL) in $(( $(date +%s) - start ))s"
exit $rc
