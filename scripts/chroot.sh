#!/bin/bash
#
# chroot.sh: Debian chroots for building and testing evproc against the
# PostgreSQL of another Debian release (the version matrix of .ci/run, and
# the install tests of the packages).  As root.
#
#   chroot.sh create SUITE [DIR]   a minbase chroot of SUITE (trixie, sid,
#                                  ...) with evproc's build and test
#                                  packages for that suite's PostgreSQL;
#                                  DIR defaults to
#                                  /var/cache/evproc-chroots/SUITE
#   chroot.sh run DIR CMD...       runs CMD in DIR with /proc, /sys and /dev
#                                  mounted, unmounted again on the way out
#   chroot.sh pgversion DIR        prints the PostgreSQL major version of DIR
#
# A cache: "create" on a DIR that is complete (its marker names the same
# suite, mirror and package list) does nothing; one whose debootstrap
# finished but whose package list differs only installs the packages; an
# incomplete one (interrupted debootstrap) is made again.  Nothing requires
# the cache: a machine without it makes the chroot from scratch.
#
# Environment:
#   EVPROC_MIRROR        the Debian mirror (default: the first one the
#                        machine's apt sources name, else deb.debian.org)
#   EVPROC_PGVERSION     the PostgreSQL major version (default: the one the
#                        suite's "postgresql" package depends on)
#   EVPROC_CHROOT_EXTRA  more packages to install, e.g. "chromium
#                        prometheus" for test/t/012_browser.pl and
#                        017_metrics.pl.  The marker lists them: a chroot
#                        that has them serves a "create" that asks for
#                        fewer or none (the package install tests copy the
#                        same chroot as the matrix), one that lacks some
#                        gets them added.
#
# The chroot never starts a server by itself: policy-rc.d forbids the
# maintainer scripts to start services, and postgresql-common is told not
# to create the "main" cluster (a cluster on port 5432 of the host's
# network, which the chroot shares, would outlive the install).
#
set -euo pipefail

SELF=$(readlink -f "$0")
CACHE=/var/cache/evproc-chroots

die() {
	echo "chroot.sh: $*" >&2
	exit 1
}

# The packages, for PostgreSQL major version $1: those of scripts/deps.sh
# that building, the unit tests, pg_regress and the TAP tests need (not the
# fuzzers or valgrind, which stay on the host; chromium and prometheus only
# by EVPROC_CHROOT_EXTRA).
packages() {
	echo build-essential ca-certificates curl procps \
		"postgresql-$1" "postgresql-server-dev-$1" \
		libmicrohttpd-dev libgnutls28-dev libjson-c-dev \
		libcurl4-openssl-dev zlib1g-dev \
		libipc-run-perl libio-socket-ssl-perl iproute2 util-linux python3 openssl
}

# mirror prints the Debian mirror: EVPROC_MIRROR, else the first URI of
# the host's apt sources (deb822 or one-line format) whose path ends in
# /debian, else deb.debian.org.
mirror() {
	if [ -n "${EVPROC_MIRROR:-}" ]; then
		echo "$EVPROC_MIRROR"
		return
	fi
	local m
	m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
		/etc/apt/sources.list.d/*.sources 2>/dev/null |
		sed -n -E -e 's/^URIs:[[:space:]]*//p' \
			-e 's/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?//p' |
		tr ' \t' '\n\n' | grep -E '^https?://[^ ]*/debian/?$' | head -n 1 || true)
	echo "${m:-http://deb.debian.org/debian}"
}

# in_chroot DIR CMD... runs CMD in DIR (apt, dpkg) with a clean environment
in_chroot() {
	local dir=$1
	shift
	"$SELF" run "$dir" env DEBIAN_FRONTEND=noninteractive "$@"
}

# create SUITE DIR: see the header
create() {
	local suite=$1 dir=$2 mirror marker want pgv extra p missing=
	mirror=$(mirror)
	marker=$dir/.evproc-chroot
	mkdir -p "$(dirname "$dir")"

	# one "create" at a time per DIR
	exec 9>"$dir.lock"
	flock 9

	if [ -d "$dir" ] && [ ! -f "$dir/.evproc-debootstrap" ]; then
		# an interrupted debootstrap: start again (never through a mount)
		if findmnt -rn -o TARGET | grep -q -F "$(readlink -f "$dir")/"; then
			die "$dir is incomplete and has mounts under it; unmount them first"
		fi
		echo "== $dir is incomplete: making it again"
		rm -rf "$dir"
	fi

	if [ ! -d "$dir" ]; then
		echo "== debootstrap $suite from $mirror into $dir"
		# debootstrap checks the Release file's signature, not its
		# Valid-Until date (apt does; see sources.list below)
		debootstrap --variant=minbase "$suite" "$dir" "$mirror" >"$dir.log" 2>&1 ||
			{
				tail -n 30 "$dir.log" >&2
				die "debootstrap $suite failed (log: $dir.log)"
			}
		# apt sources.  The unstable suite's Release file on the mirror may
		# be past its Valid-Until date (sid's is re-signed daily and a
		# mirror or snapshot that lags behind serves an expired one); apt
		# would then refuse the whole suite.  So for that suite only, and
		# only that check, is turned off: signatures are still verified.
		case $suite in
		sid | unstable)
			echo "deb [check-valid-until=no] $mirror $suite main" >"$dir/etc/apt/sources.list"
			;;
		*)
			echo "deb $mirror $suite main" >"$dir/etc/apt/sources.list"
			;;
		esac
		# no service starts from a maintainer script, no "main" cluster
		printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
		chmod 755 "$dir/usr/sbin/policy-rc.d"
		mkdir -p "$dir/etc/postgresql-common/createcluster.d"
		echo 'create_main_cluster = false' \
			>"$dir/etc/postgresql-common/createcluster.d/evproc-no-main.conf"
		# a chroot thrown away at will: dpkg need not fsync
		echo force-unsafe-io >"$dir/etc/dpkg/dpkg.cfg.d/evproc-unsafe-io"
		echo "$suite $mirror" >"$dir/.evproc-debootstrap"
	fi

	cp /etc/resolv.conf "$dir/etc/resolv.conf" 2>/dev/null || true
	pgv=${EVPROC_PGVERSION:-}
	if [ -z "$pgv" ] && [ -f "$marker" ]; then
		pgv=$(sed -n 's/^pgversion //p' "$marker")
	fi
	if [ -z "$pgv" ]; then
		in_chroot "$dir" apt-get update -qq
		pgv=$(in_chroot "$dir" apt-cache depends postgresql |
			sed -n -E 's/^ *Depends: postgresql-([0-9]+)$/\1/p' | head -n 1)
		[ -n "$pgv" ] || die "no postgresql-NN in $suite"
	fi
	want=$( (echo "$suite $mirror" && packages "$pgv") | sha256sum | cut -c1-16)
	# the extra packages: those the chroot has, and those asked for now
	extra=
	if [ -f "$marker" ] && grep -qx "hash $want" "$marker"; then
		extra=$(sed -n 's/^extra //p' "$marker")
	fi
	for p in ${EVPROC_CHROOT_EXTRA:-}; do
		case " $extra " in
		*" $p "*) ;;
		*) missing="$missing $p" ;;
		esac
	done
	extra=$extra$missing
	extra=${extra# }
	if [ -f "$marker" ] && grep -qx "hash $want" "$marker" && [ -z "$missing" ]; then
		echo "== $dir: complete (PostgreSQL $pgv${extra:+; with $extra}), reused"
		return
	fi
	rm -f "$marker"
	echo "== installing the packages for PostgreSQL $pgv into $dir"
	in_chroot "$dir" apt-get update -qq
	# shellcheck disable=SC2046,SC2086
	in_chroot "$dir" apt-get install -y -qq --no-install-recommends \
		$(packages "$pgv") $extra >"$dir.apt.log" 2>&1 ||
		{
			tail -n 30 "$dir.apt.log" >&2
			die "apt-get install in $dir failed (log: $dir.apt.log)"
		}
	in_chroot "$dir" apt-get clean
	printf 'hash %s\npgversion %s\n' "$want" "$pgv" >"$marker"
	[ -z "$extra" ] || echo "extra $extra" >>"$marker"
	echo "== $dir: ready (PostgreSQL $pgv${extra:+; with $extra})"
}

# inner DIR CMD...: "run" in its own mount namespace (see run): the
# mounts are private to it, and the trap unmounts them in any case
inner() {
	local status=0
	RUN_DIR=$1
	shift
	trap 'umount -l "$RUN_DIR/dev" "$RUN_DIR/sys" "$RUN_DIR/proc" 2>/dev/null || true' EXIT
	mount -t proc proc "$RUN_DIR/proc"
	mount -t sysfs sysfs "$RUN_DIR/sys"
	mount --rbind /dev "$RUN_DIR/dev"
	chroot "$RUN_DIR" /usr/bin/env -i \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" \
		${CI:+CI="$CI"} "$@" || status=$?
	exit "$status"
}

# run DIR CMD...: a mount namespace of its own, so that the mounts are
# seen by nothing else and vanish with it even if this script is killed
run() {
	local dir=$1
	shift
	[ -f "$dir/.evproc-debootstrap" ] || die "$dir is not a chroot made by chroot.sh create"
	[ $# -gt 0 ] || die "run: no command"
	exec unshare --mount --propagation private -- "$SELF" _inner "$dir" "$@"
}

[ "$(id -u)" = 0 ] || die "run as root"
cmd=${1:-}
shift || true
case $cmd in
create)
	[ $# -ge 1 ] || die "usage: chroot.sh create SUITE [DIR]"
	create "$1" "${2:-$CACHE/$1}"
	;;
run)
	[ $# -ge 2 ] || die "usage: chroot.sh run DIR CMD..."
	run "$@"
	;;
_inner)
	inner "$@"
	;;
pgversion)
	[ $# = 1 ] || die "usage: chroot.sh pgversion DIR"
	sed -n 's/^pgversion //p' "$1/.evproc-chroot"
	;;
*)
	die "usage: chroot.sh create SUITE [DIR] | run DIR CMD... | pgversion DIR"
	;;
esac
