#!/bin/sh
# help2man.sh BINARY VERSION: the manual page evproc-client(1), made from
# "BINARY --help", which is already laid out as one (NAME, SYNOPSIS,
# COMMANDS, ... headings at the left margin, text indented by four)
set -e
echo ".TH EVPROC-CLIENT 1 \"\" \"evproc $2\" \"User Commands\""
"$1" --help | sed \
	-e 's/\\/\\e/g' \
	-e 's/^    //' \
	-e "s/^\\([.']\\)/\\\\\\&\\1/" \
	-e 's/-/\\-/g' | awk '
	/^[A-Z][A-Z ]*$/ { print ".SH " $0; sec = $0; if (sec != "NAME") print ".nf"; next }
	sec == "NAME" { sub(/ \\- /, " \\- "); print; next }
	{ print }'
