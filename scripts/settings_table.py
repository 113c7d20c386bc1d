#!/usr/bin/env python3
"""settings_table.py: docs/settings.md's table against settings.c's rows.

src/shared/settings.c defines every evproc.* setting as one row of a table,
a SETTING_INT / SETTING_STRING / SETTING_BOOL macro call whose first
arguments are literals:

    SETTING_INT("evproc.port", evproc_port,
                8000, 1, 65535, PGC_POSTMASTER, 0, RELOAD_NONE, ...),

docs/settings.md (its "# Settings" section; a "## Settings" section of a
README works too) has one table row per setting:

    | `evproc.port` | `8000` | restart | HTTP port |

This script fails (exit status 1) unless both name the same settings and,
for each, the same default (on/off, a string or "empty" for '', an integer
with or without one of its unit's suffixes: 60s and 1min are equal) and the
same context (PGC_POSTMASTER: "restart",
PGC_SIGHUP and PGC_SUSET: "reload"; the README's cell may go on after
that word).

    python3 scripts/settings_table.py [src/shared/settings.c docs/settings.md]
    python3 scripts/settings_table.py --selftest
        (a matching pair passes; each kind of mismatch fails alone)
"""
import re
import sys

ROW_START = re.compile(r"\bSETTING_(INT|STRING|BOOL)\(")
CONTEXTS = {"PGC_POSTMASTER": "restart", "PGC_SIGHUP": "reload",
            "PGC_SUSET": "reload"}
# units as PostgreSQL's SHOW prints them, largest first, in base units
UNITS = {
    "GUC_UNIT_BYTE": [("TB", 1 << 40), ("GB", 1 << 30), ("MB", 1 << 20),
                      ("kB", 1 << 10), ("B", 1)],
    "GUC_UNIT_KB": [("TB", 1 << 30), ("GB", 1 << 20), ("MB", 1 << 10),
                    ("kB", 1)],
    "GUC_UNIT_S": [("d", 86400), ("h", 3600), ("min", 60), ("s", 1)],
}


def split_args(text, start):
    """The top-level arguments of the call whose '(' is at text[start-1],
    and the index after its ')'."""
    args, cur, depth, i = [], "", 0, start
    while i < len(text):
        c = text[i]
        if c == '"':
            j = i + 1
            while text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            cur += text[i:j + 1]
            i = j + 1
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            if depth == 0:
                args.append(cur.strip())
                return args, i + 1
            depth -= 1
        elif c == "," and depth == 0:
            args.append(cur.strip())
            cur = ""
            i += 1
            continue
        cur += c
        i += 1
    raise ValueError("unterminated SETTING_ row")


def c_string(arg):
    """The value of a C string literal (one piece, simple escapes)."""
    if not re.fullmatch(r'"(?:[^"\\]|\\.)*"', arg):
        raise ValueError(f"not a string literal: {arg}")
    return re.sub(r"\\(.)", r"\1", arg[1:-1])


def c_int(arg):
    """The value of an integer default: digits joined by * + - ( )."""
    expr = " ".join(arg.split())
    if not re.fullmatch(r"[0-9 *+()\-]+", expr):
        raise ValueError(f"default is not a literal expression: {arg}")
    return eval(expr, {"__builtins__": {}})


def show(value, flags):
    """An integer as SHOW prints it (PostgreSQL 15's _ShowOption)."""
    for unit, mult in UNITS.get(flags_unit(flags), []):
        if value > 0 and value % mult == 0:
            return f"{value // mult}{unit}"
    return str(value)


def flags_unit(flags):
    """The GUC_UNIT_* of a row's flags argument, or None."""
    return next((u for u in UNITS if u in flags), None)


def readme_int(cell, flags):
    """A README integer default (60s, 1min, 2GB, 1000) in the row's base
    unit, or None if it is not one."""
    m = re.fullmatch(r"(-?[0-9]+) ?([A-Za-z]*)", cell)
    if not m:
        return None
    mults = dict(UNITS.get(flags_unit(flags), []))
    if m.group(2) and m.group(2) not in mults:
        return None
    return int(m.group(1)) * mults.get(m.group(2), 1)


def c_rows(text):
    """{name: (default as SHOW prints it, context, flags, integer value or
    None)} from settings.c's SETTING_ rows."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"#define[^\n]*(?:\\\n[^\n]*)*", " ", text)
    rows = {}
    for m in ROW_START.finditer(text):
        kind = m.group(1)
        a, _ = split_args(text, m.end())
        name = c_string(a[0])
        value, flags = None, a[4]
        if kind == "INT":
            value, context, flags = c_int(a[2]), a[5], a[6]
            default = show(value, flags)
        elif kind == "STRING":
            default, context = c_string(a[2]) or "empty", a[3]
        else:
            default = {"true": "on", "false": "off"}[a[2]]
            context = a[3]
        if context not in CONTEXTS:
            raise ValueError(f"{name}: unknown context {context}")
        if name in rows:
            raise ValueError(f"{name}: two rows in settings.c")
        rows[name] = (default, CONTEXTS[context], flags, value)
    return rows


def readme_rows(text):
    """{name: (default, change needs)} from the first table of README's
    "## Settings" section."""
    m = re.search(r"^(#{1,2}) Settings\n(.*?)(?=^#{1,2} |\Z)", text,
                  re.S | re.M)
    if not m:
        raise ValueError('no "# Settings" or "## Settings" section')
    table = re.search(r"^\|.*?(?=^[^|]|\Z)", m.group(2), re.S | re.M)
    rows = {}
    for line in (table.group(0) if table else "").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`evproc."):
            continue
        name = cells[0].strip("`")
        default = cells[1].strip("`")
        needs = cells[2].split()[0] if cells[2] else ""
        if name in rows:
            raise ValueError(f"{name}: two rows in README")
        rows[name] = (default, needs)
    return rows


def compare(c_text, readme_text):
    """The mismatches, one line each; none when the tables agree."""
    c, r = c_rows(c_text), readme_rows(readme_text)
    errs = []
    for name in sorted(set(c) | set(r)):
        if name not in r:
            errs.append(f"{name}: in settings.c, missing from README")
        elif name not in c:
            errs.append(f"{name}: in README, not a row of settings.c")
        else:
            default, context, flags, value = c[name]
            if (r[name][0] != default and
                    (value is None or readme_int(r[name][0], flags) != value)):
                errs.append(f"{name}: default is {default} in settings.c, "
                            f"{r[name][0]} in README")
            if r[name][1] != context:
                errs.append(f"{name}: change needs is {context} in "
                            f"settings.c, {r[name][1]} in README")
    if not c:
        errs.append("no SETTING_ rows found in settings.c")
    return errs


SAMPLE_C = r'''
static const SettingRow settings[] = {
	SETTING_STRING("evproc.listen_address", evproc_listen_address,
				   "127.0.0.1", PGC_POSTMASTER, 0, check_listen_address, RELOAD_NONE,
				   "Address, \"*\" too, (sic).", NULL),
	SETTING_INT("evproc.rotation_size", evproc_rotation_size,
				1024 * 1024, 0, INT_MAX / 2, PGC_SIGHUP, GUC_UNIT_KB, RELOAD_NONE,
				"Size (kB), rotated.", "0 rotates by time only."),
	SETTING_INT("evproc.max_header_size", evproc_max_header_size,
				32 * 1024, 4 * 1024, 1024 * 1024, PGC_POSTMASTER, GUC_UNIT_BYTE, RELOAD_NONE,
				"Memory.", NULL),
	SETTING_INT("evproc.dedupe_retention", evproc_dedupe_retention,
				7 * 24 * 3600, 60, INT_MAX, PGC_SIGHUP, GUC_UNIT_S, RELOAD_NONE,
				"How long.", NULL),
	SETTING_INT("evproc.rate_limit_per_client", evproc_rate_limit_per_client,
				0, 0, 10000000, PGC_SIGHUP, 0, RELOAD_NONE, "Most.", NULL),
	SETTING_BOOL("evproc.fsync", evproc_fsync,
				 true, PGC_SIGHUP, 0, RELOAD_INTAKE, "Durable.", NULL),
	SETTING_STRING("evproc.fault_injection", evproc_fault_injection,
				   "", PGC_SUSET, GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE, NULL,
				   RELOAD_INTAKE, "Test only.", "See README."),
};
'''

SAMPLE_README = '''# x

## Settings

| setting | default | change needs | meaning |
|---|---|---|---|
| `evproc.listen_address` | `127.0.0.1` | restart | an address |
| `evproc.rotation_size` | `1GB` | reload | size |
| `evproc.max_header_size` | `32768B` | restart | memory |
| `evproc.dedupe_retention` | `7d` | reload | how long |
| `evproc.rate_limit_per_client` | `0` | reload | most |
| `evproc.fsync` | `on` | reload | durable |
| `evproc.fault_injection` | empty | reload (tests) | test only |

| `evproc.not_a_setting` | `1` | reload | a later table, not read |

## Next
'''

# (what, README edit, the one error expected); the sample README writes
# some defaults in other units than SHOW (32768B for 32kB): equal values pass
MISMATCHES = [
    ("wrong default", ("`1GB`", "`1000MB`"),
     "evproc.rotation_size: default is 1GB in settings.c, 1000MB in README"),
    ("wrong unit", ("`7d`", "`7h`"),
     "evproc.dedupe_retention: default is 7d in settings.c, 7h in README"),
    ("wrong string default", ("`127.0.0.1`", "`*`"),
     "evproc.listen_address: default is 127.0.0.1 in settings.c, * in "
     "README"),
    ("wrong context", ("`32768B` | restart", "`32768B` | reload"),
     "evproc.max_header_size: change needs is restart in settings.c, "
     "reload in README"),
    ("row missing", ("| `evproc.fsync` | `on` | reload | durable |\n", ""),
     "evproc.fsync: in settings.c, missing from README"),
    ("extra row", ("| `evproc.fsync` |",
                   "| `evproc.gone` | `1` | reload | x |\n| `evproc.fsync` |"),
     "evproc.gone: in README, not a row of settings.c"),
    ("row outside the table counted", ("\n\n| `evproc.not_a_setting`",
                                       "\n| `evproc.not_a_setting`"),
     "evproc.not_a_setting: in README, not a row of settings.c"),
]


def selftest():
    ok = True
    errs = compare(SAMPLE_C, SAMPLE_README)
    good = not errs
    print("settings_table self-test: matching tables pass: "
          + ("ok" if good else "FAILED") + "".join(f"\n    {e}" for e in errs))
    ok = ok and good
    for what, (old, new), expect in MISMATCHES:
        assert old in SAMPLE_README, what
        errs = compare(SAMPLE_C, SAMPLE_README.replace(old, new, 1))
        good = errs == [expect]
        print(f"settings_table self-test: {what} fails alone: "
              + ("ok" if good else "FAILED")
              + "".join(f"\n    {e}" for e in errs))
        ok = ok and good
    return ok


def main(argv):
    if argv == ["--selftest"]:
        return 0 if selftest() else 1
    c_path, readme_path = argv if argv else ("src/shared/settings.c",
                                             "docs/settings.md")
    with open(c_path) as f:
        c_text = f.read()
    with open(readme_path) as f:
        readme_text = f.read()
    errs = compare(c_text, readme_text)
    for e in errs:
        print(f"settings_table: {e}", file=sys.stderr)
    if errs:
        print(f"settings_table: {readme_path}'s settings table does not match "
              f"{c_path}", file=sys.stderr)
        return 1
    print(f"settings_table: {readme_path}'s settings table matches {c_path} "
          f"({len(c_rows(c_text))} settings)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
