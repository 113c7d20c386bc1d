#!/bin/sh
# html2c.sh PAGE: writes, on standard output, a C header that holds PAGE
# (an HTML file, ASCII only) as the string dashboard_html, and as
# dashboard_csp a Content-Security-Policy that lets in only the page's own
# inline <script> and <style> (by their SHA-256) and requests to the same
# origin.  Each of <script>, </script>, <style> and </style> must be alone
# on its line.  Uses only POSIX sh, awk and sha256sum (coreutils).
set -eu

page=$1
LC_ALL=C
export LC_ALL

if grep -q '[^ -~	]' "$page"; then
	echo "$page: only printable ASCII and tabs, please (use HTML entities or \\u escapes)" >&2
	exit 1
fi

# hash TAG: 'sha256-<base64>' of what the browser hashes: the text between
# <TAG> and </TAG>, the newline after <TAG> included
hash()
{
	n=$(grep -c "^<$1>\$" "$page" || true)
	if [ "$n" != 1 ] || [ "$(grep -c "^</$1>\$" "$page" || true)" != 1 ]; then
		echo "$page: expected one <$1> and one </$1>, each alone on its line" >&2
		exit 1
	fi
	awk -v tag="$1" '
		$0 == "</" tag ">" { f = 0; printf "\n" }
		f { printf "\n%s", $0 }
		$0 == "<" tag ">" { f = 1 }' "$page" | sha256sum | awk '
	{
		b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
		hex = "0123456789abcdef"
		n = length($1) / 2
		for (i = 0; i < n; i++)
			byte[i] = (index(hex, substr($1, 2 * i + 1, 1)) - 1) * 16 + \
				index(hex, substr($1, 2 * i + 2, 1)) - 1
		out = ""
		for (i = 0; i < n; i += 3)
		{
			v = byte[i] * 65536 + (i + 1 < n ? byte[i + 1] : 0) * 256 + \
				(i + 2 < n ? byte[i + 2] : 0)
			out = out substr(b64, int(v / 262144) % 64 + 1, 1)
			out = out substr(b64, int(v / 4096) % 64 + 1, 1)
			out = out (i + 1 < n ? substr(b64, int(v / 64) % 64 + 1, 1) : "=")
			out = out (i + 2 < n ? substr(b64, v % 64 + 1, 1) : "=")
		}
		printf "sha256-%s", out
	}'
}

script=$(hash script)
style=$(hash style)

echo "/* generated from $page by scripts/html2c.sh: do not edit */"
echo "static const char dashboard_csp[] ="
echo "\"default-src 'self'; script-src '$script'; style-src '$style'; \""
echo "\"img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \""
echo "\"frame-ancestors 'none'\";"
echo "static const char dashboard_html[] ="
# one C string literal a line; character by character, as the escapes in
# gsub's replacement differ among awks
awk '
{
	out = ""
	for (i = 1; i <= length($0); i++)
	{
		c = substr($0, i, 1)
		if (c == "\\" || c == "\"" || c == "?")
			out = out "\\" c
		else if (c == "\t")
			out = out "\\t"
		else
			out = out c
	}
	printf "\"%s\\n\"\n", out
}
END { print ";" }' "$page"
