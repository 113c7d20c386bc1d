#!/bin/bash
#
# pkgbuild.sh: builds the Debian packages (debian/) from this checkout's
# files, in a copy under OUTDIR, so that dpkg-buildpackage writes nothing
# into the checkout or its parent directory, then runs lintian on them.
#
#   scripts/pkgbuild.sh [--no-lintian] OUTDIR [VERSION [REV]]
#
# VERSION (e.g. 1.4-2) adds a debian/changelog entry to the copy first (the
# install test builds the same tree twice, to install one over the other).
# REV (a git revision, e.g. the last one of schema 1.3) builds that
# revision's files instead, with this checkout's debian/ and a changelog of
# the one entry VERSION (the install test upgrades from it).
# Prints the .deb files it built, one a line, on the last lines of stdout;
# fails if the build or lintian fails.  Needs dpkg-dev, debhelper,
# postgresql-server-dev-all, the Build-Depends of debian/control, lintian.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
lint=1
if [ "${1:-}" = --no-lintian ]; then lint=; shift; fi
out="${1:?usage: pkgbuild.sh [--no-lintian] OUTDIR [VERSION [REV]]}"
version="${2:-}"
rev="${3:-}"

mkdir -p "$out"
out="$(cd "$out" && pwd)"
src="$out/evproc"
rm -rf "$src"
mkdir -p "$src"
# the tracked files and the new ones not ignored: what the checkout holds
(cd "$here" && git ls-files -z -c -o --exclude-standard) |
	(cd "$here" && tar --null -T - -cf -) | tar -C "$src" -xf -
maint="$(sed -n 's/^ -- \(.*>\)  .*/\1/p' "$src/debian/changelog" | head -1)"

# the package's upstream version is the extension's default version
control=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$src/evproc.control")
changelog=$(cd "$src" && dpkg-parsechangelog -S Version | sed 's/^[0-9]*://; s/-[^-]*$//')
[ -n "$rev" ] || [ "$control" = "$changelog" ] || {
	echo "pkgbuild.sh: debian/changelog's version $changelog is not evproc.control's default_version $control" >&2
	exit 1
}

if [ -n "$rev" ]; then
	# that revision's files, this checkout's debian/
	mv "$src/debian" "$out/debian.keep"
	rm -rf "$src"
	mkdir -p "$src"
	(cd "$here" && git archive "$rev") | tar -C "$src" -xf -
	rm -rf "$src/debian"
	mv "$out/debian.keep" "$src/debian"
	printf 'evproc (%s) unstable; urgency=medium\n\n  * Built from %s (install test).\n\n -- %s  %s\n' \
		"$version" "$rev" "$maint" "$(date -R)" > "$src/debian/changelog"
elif [ -n "$version" ]; then
	(cd "$src" &&
	 { printf 'evproc (%s) unstable; urgency=medium\n\n  * Rebuilt as %s (install test).\n\n -- %s  %s\n\n' \
		"$version" "$version" "$maint" "$(date -R)"; cat debian/changelog; } > debian/changelog.new &&
	 mv debian/changelog.new debian/changelog)
fi

cd "$src"
# debian/control follows debian/control.in and this machine's PostgreSQL
pg_buildext updatecontrol
dpkg-buildpackage -us -uc -b -j"$(nproc)" >"$out/build.log" 2>&1 || {
	tail -40 "$out/build.log" >&2
	echo "pkgbuild.sh: dpkg-buildpackage failed, see $out/build.log" >&2
	exit 1
}
changes="$out/evproc_$(dpkg-parsechangelog -S Version | sed 's/^[0-9]*://')_$(dpkg-architecture -qDEB_HOST_ARCH).changes"
if [ -n "$lint" ]; then
	echo "== lintian $(basename "$changes")"
	# errors and warnings fail; the overrides in debian/*.lintian-overrides
	# say why each one left is right
	lintian --fail-on error,warning --info "$changes"
fi
sed -n '/^Files:/,$p' "$changes" | awk 'NF==5 && $5 ~ /\.deb$/ && $5 !~ /-dbgsym_/ {print dir "/" $5}' dir="$out"
