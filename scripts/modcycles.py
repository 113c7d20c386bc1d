#!/usr/bin/env python3
"""modcycles.py: the structure of src/, checked from the object files (nm).

evproc's folders say in which execution context their code runs, and so what
it may call.  The folder of an object is taken from its path:

    rank 0  src/x.o          wiring: _PG_init, worker loop, SQL entry points
    rank 1  src/http/x.o     inside libmicrohttpd's callbacks: malloc only
    rank 2  src/ingest/x.o   transactions
    rank 3  src/shared/x.o   the backend's shared state
    rank 4  src/journal/x.o  no PostgreSQL
    rank 5  src/core/x.o     no PostgreSQL

The rules (each one a function below; any failure makes the exit status 1):

  1 journal/ and core/ reference no PostgreSQL symbol: they are unit tested
    and fuzzed without a server.
  2 http/ references PostgreSQL only for LOG-level logging and the port
    printf/strlcat (LOG_SYMBOLS, PORT_SYMBOLS): palloc, SPI, transactions,
    locks or an ereport(ERROR) (errstart_cold) inside a libmicrohttpd
    callback would longjmp or allocate out of the server's reach.
  3 http/ reaches lower objects that break rule 2 only through data (GUC
    variables) or the functions of HTTP_ALLOWED_CALLS, each with its reason.
  4 no arrow upward: an object calls only objects of its own or a lower rank.
  5 no dependency cycle among the objects (Tarjan).
  6 no src/ file (.c, .h) over 800 lines.
  7 every src/*/ folder has a README.md (skipped while src/ is flat).

The PostgreSQL symbols are `nm -D --defined-only` of the server binary; when
it is absent, a pattern list (PG_PATTERNS).  Symbols an object of the list
itself defines are never PostgreSQL's.

    python3 scripts/modcycles.py [--graph] [--postgres BIN | --pg-symbols FILE]
                                 [--root DIR] src/*.o src/*/*.o
    python3 scripts/modcycles.py --selftest
        (each rule fails on a fixture breaking it alone; a clean tree passes)
"""
import fnmatch
import os
import re
import subprocess
import sys
import tempfile

FOLDERS = ["wiring", "http", "ingest", "shared", "journal", "core"]
RANK = {f: i for i, f in enumerate(FOLDERS)}
BACKEND_FREE = {"journal", "core"}
MAX_LINES = 800

LOG_SYMBOLS = {"errstart", "errfinish", "errmsg", "errhint", "errdetail",
               "errcode"}
PORT_SYMBOLS = {"pg_snprintf", "pg_vsnprintf", "strlcat", "strlcpy"}
HTTP_PG_ALLOWED = LOG_SYMBOLS | PORT_SYMBOLS

# Functions of objects that break rule 2 which http/ may call anyway.
HTTP_ALLOWED_CALLS = {
    "intake_accept": "appends journal lines to the malloc'd batch, no PG call",
    "types_current": "returns the event_types copy already loaded, no call",
    "types_resolve": "looks a name up in the loaded copy, no PostgreSQL call",
    "settings_list_next": "walks a comma-separated setting string, pure",
    "role_standby": "returns the role role_refresh read last, no call",
    "role_name": "names the role role_refresh read last, no call",
    "tls_start": "called by the worker when the daemon starts, not a callback",
    "tls_stop": "called by the worker when the daemon stops, not a callback",
    "tls_mhd_options": "builds the daemon's options at start, in the worker",
    "feed_changed_since": "LWLock read in stream_welcome, run by the worker",
    "feed_last_seq": "LWLock read in stream_welcome, run by the worker",
    "lookup_users": "never called in http/: its address is a row of"
                    " http_lookup.c's kinds, called by lookup_serve (worker)",
    "lookup_tops": "never called in http/: its address is a row of"
                   " http_lookup.c's kinds, called by lookup_serve (worker)",
}

# Fallback when the server binary is absent (glob patterns).
PG_PATTERNS = ["palloc*", "repalloc*", "pfree", "SPI_*", "LWLock*",
               "*TransactionCommand", "err*", "elog*", "pg_*", "Memory*",
               "CurrentMemoryContext", "TopMemoryContext", "ereport*"]

# Classes named in rule 2's message, first match wins.
HTTP_CLASSES = [("errstart_cold", "ereport at ERROR (errstart_cold)"),
                ("palloc*", "memory (palloc/MemoryContext)"),
                ("repalloc*", "memory (palloc/MemoryContext)"),
                ("pfree", "memory (palloc/MemoryContext)"),
                ("*MemoryContext*", "memory (palloc/MemoryContext)"),
                ("SPI_*", "SPI"),
                ("*TransactionCommand", "transaction"),
                ("*Transaction*", "transaction"),
                ("LWLock*", "lock (LWLock)"),
                ("*Lock*", "lock")]


# ---------------------------------------------------------------- inputs

def symbols(obj):
    """The object's defined symbols {name: nm type} and its undefined ones."""
    defined, undefined = {}, set()
    out = subprocess.run(["nm", obj], capture_output=True, text=True,
                         check=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "U":
            undefined.add(parts[1])
        elif len(parts) == 3 and parts[1] in "TDBRCVW":
            defined[parts[2]] = parts[1]
    return defined, undefined


class PgSymbols:
    """Membership in PostgreSQL's exported symbols (list or patterns)."""

    def __init__(self, names=None, patterns=None, source=""):
        self.names, self.patterns, self.source = names, patterns, source

    def __contains__(self, sym):
        if self.names is not None:
            return sym in self.names
        return any(fnmatch.fnmatchcase(sym, p) for p in self.patterns)


def pg_symbols(postgres=None, listfile=None):
    if listfile:
        with open(listfile) as f:
            names = {ln.split()[-1] for ln in f if ln.strip()}
        return PgSymbols(names, source=f"symbol list {listfile}"
                         f" ({len(names)} names)")
    if postgres and os.path.exists(postgres):
        out = subprocess.run(["nm", "-D", "--defined-only", postgres],
                             capture_output=True, text=True, check=True).stdout
        names = {ln.split()[-1].split("@")[0] for ln in out.splitlines()
                 if len(ln.split()) == 3}
        return PgSymbols(names, source=f"nm -D {postgres}"
                         f" ({len(names)} symbols)")
    return PgSymbols(patterns=PG_PATTERNS,
                     source=f"pattern list ({postgres or 'no server binary'}"
                     " not found): " + " ".join(PG_PATTERNS))


def folder_of(obj, root):
    """wiring for src/x.o, the folder name for src/<folder>/x.o."""
    rel = os.path.relpath(obj, root).split(os.sep)
    if len(rel) == 2 and rel[0] == "src":
        return "wiring"
    if len(rel) == 3 and rel[0] == "src" and rel[1] in RANK:
        return rel[1]
    raise SystemExit(f"modcycles: {obj}: not src/x.o nor src/<folder>/x.o "
                     f"with a folder among {' '.join(FOLDERS[1:])}")


class Tree:
    """The objects: folder, symbols, PostgreSQL references, arrows."""

    def __init__(self, objs, root, pg):
        self.root, self.pg = root, pg
        self.folder, self.defined, self.needs = {}, {}, {}
        owner = {}
        for o in objs:
            name = os.path.relpath(o, os.path.join(root, "src"))[:-2]
            self.folder[name] = folder_of(o, root)
            self.defined[name], self.needs[name] = symbols(o)
            for s in self.defined[name]:
                owner[s] = name
        self.owner = owner
        self.pg_refs = {n: sorted(s for s in u if s not in owner and s in pg)
                        for n, u in self.needs.items()}
        self.edges = {n: sorted({owner[s] for s in u
                                 if s in owner and owner[s] != n})
                      for n, u in self.needs.items()}

    def http_dirty(self, name):
        """PostgreSQL symbols of name outside what rule 2 allows http/."""
        return [s for s in self.pg_refs[name] if s not in HTTP_PG_ALLOWED]


# ---------------------------------------------------------------- rules

def rule1_backend_free(t):
    return [f"rule 1: {n} ({t.folder[n]}/ is backend-free) references "
            f"PostgreSQL: {' '.join(t.pg_refs[n])}"
            for n in sorted(t.folder)
            if t.folder[n] in BACKEND_FREE and t.pg_refs[n]]


def http_class(sym):
    for pat, cls in HTTP_CLASSES:
        if fnmatch.fnmatchcase(sym, pat):
            return cls
    return "not LOG-level logging nor port"


def brief(syms, n=6):
    """The first n symbols, and how many more."""
    more = f" (+{len(syms) - n})" if len(syms) > n else ""
    return " ".join(syms[:n]) + more


def rule2_http_pg(t):
    """One line per http/ object: its forbidden symbols by class."""
    errs = []
    for n in sorted(t.folder):
        if t.folder[n] != "http" or not t.http_dirty(n):
            continue
        classes = {}
        for s in t.http_dirty(n):
            classes.setdefault(http_class(s), []).append(s)
        order = [c for _, c in HTTP_CLASSES] + [http_class("")]
        errs.append(f"rule 2: {n} (http/, inside libmicrohttpd callbacks) "
                    "references " + "; ".join(
                        f"{c}: {brief(classes[c])}"
                        for c in sorted(classes, key=order.index)))
    return errs


def rule3_http_calls(t):
    """One line per (http/ object, lower object breaking rule 2) pair."""
    errs = []
    for n in sorted(t.folder):
        if t.folder[n] != "http":
            continue
        calls = {}
        for s in sorted(t.needs[n]):
            b = t.owner.get(s)
            if b is None or RANK[t.folder[b]] <= RANK["http"]:
                continue
            if t.defined[b][s] not in "Tt" or s in HTTP_ALLOWED_CALLS:
                continue          # data (a GUC variable) or allowed
            if t.http_dirty(b):
                calls.setdefault(b, []).append(s)
        for b, fns in calls.items():
            errs.append(f"rule 3: {n} (http/) calls {' '.join(fns)} of {b},"
                        f" which uses {brief(t.http_dirty(b), 4)};"
                        " not in the allow-list")
    return errs


def allow_list_unused(t):
    """Allow-list entries no http/ object calls any more (a note)."""
    used = {s for n in t.folder if t.folder[n] == "http"
            for s in t.needs[n]}
    return sorted(set(HTTP_ALLOWED_CALLS) - used)


def rule4_upward(t):
    return [f"rule 4: {a} ({t.folder[a]}/, rank {RANK[t.folder[a]]}) calls "
            f"up into {b} ({t.folder[b]}/, rank {RANK[t.folder[b]]})"
            for a in sorted(t.edges) for b in t.edges[a]
            if RANK[t.folder[a]] > RANK[t.folder[b]]]


def rule5_cycles(t):
    """Tarjan's strongly connected components of more than one object."""
    index, low, stack, on, sccs = {}, {}, [], set(), []

    def visit(v, counter=[0]):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in t.edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    for v in sorted(t.edges):
        if v not in index:
            visit(v)
    return ["rule 5: cycle among: " + " ".join(c) for c in sccs]


def src_files(root):
    for d, _, files in os.walk(os.path.join(root, "src")):
        for f in sorted(files):
            if f.endswith((".c", ".h")):
                yield os.path.join(d, f)


def rule6_lines(t):
    errs = []
    for p in sorted(src_files(t.root)):
        with open(p, "rb") as f:
            n = f.read().count(b"\n")
        if n > MAX_LINES:
            errs.append(f"rule 6: {os.path.relpath(p, t.root)} has {n} lines"
                        f" (> {MAX_LINES})")
    return errs


def rule7_readme(t):
    src = os.path.join(t.root, "src")
    return [f"rule 7: src/{d}/ has no README.md"
            for d in sorted(os.listdir(src))
            if os.path.isdir(os.path.join(src, d))
            and not os.path.exists(os.path.join(src, d, "README.md"))]


RULES = [rule1_backend_free, rule2_http_pg, rule3_http_calls, rule4_upward,
         rule5_cycles, rule6_lines, rule7_readme]


def check(objs, root, pg):
    """All failures, each a message starting with its rule."""
    t = Tree(objs, root, pg)
    return t, [e for rule in RULES for e in rule(t)]


# ---------------------------------------------------------------- self-test

FAKE_PG = """palloc pfree SPI_connect LWLockAcquire StartTransactionCommand
errstart errstart_cold errfinish errmsg errhint pg_snprintf strlcat"""

CLEAN = {
    "main": "int ok_log(void); int types_current(void); int clean(void);\n"
            "int main(void) { return ok_log() + types_current() + clean(); }",
    "http/ok": "int errstart(int, const char *); void errfinish(const char *,"
               " int, const char *); int errmsg(const char *, ...);\n"
               "extern int shared_guc; int types_current(void);\n"
               "int ok_log(void) { if (errstart(15, 0)) { errmsg(\"x\");"
               " errfinish(0, 0, 0); } return shared_guc + types_current();"
               " }",
    "shared/types": "void *palloc(unsigned long); int shared_guc = 1;\n"
                    "int types_current(void) { return shared_guc; }\n"
                    "void *types_load(void) { return palloc(8); }",
    "ingest/in": "int clean(void); int in(void) { return clean(); }",
    "journal/j": "int clean(void); int j(void) { return clean(); }",
    "core/clean": "int clean(void) { return 1; }",
}

# rule: (files added to the clean tree, message expected)
VIOLATIONS = {
    1: ({"core/a": "void *palloc(unsigned long);"
                   " void *a(void) { return palloc(1); }"},
        r"rule 1: core/a .* references PostgreSQL: palloc"),
    2: ({"http/b": "int SPI_connect(void); int b(void)"
                   " { return SPI_connect(); }",
         "http/c": "int errstart_cold(int, const char *);"
                   " int c(void) { return errstart_cold(21, 0); }",
         "http/d": "void LWLockAcquire(void *, int);"
                   " void d(void) { LWLockAcquire(0, 0); }"},
        r"rule 2: http/b .* references SPI: SPI_connect\n"
        r"rule 2: http/c .* references ereport at ERROR \(errstart_cold\):"
        r" errstart_cold\nrule 2: http/d .* references lock \(LWLock\):"
        r" LWLockAcquire"),
    3: ({"http/e": "void *f_dirty(void); void *e(void)"
                   " { return f_dirty(); }",
         "shared/f": "void *palloc(unsigned long);"
                     " void *f_dirty(void) { return palloc(1); }"},
        r"rule 3: http/e \(http/\) calls f_dirty of shared/f, which uses"
        r" palloc; not in the allow-list"),
    4: ({"core/g": "int h(void); int g(void) { return h(); }",
         "shared/h": "int h(void) { return 2; }"},
        r"rule 4: core/g \(core/, rank 5\) calls up into shared/h"
        r" \(shared/, rank 3\)"),
    5: ({"core/x": "int y(void); int x(void) { return y(); }",
         "core/y": "int x(void); int y(void) { return x(); }"},
        r"rule 5: cycle among: core/x core/y"),
    6: ({"core/long": "int long_one(void) { return 0; }\n" + "\n" * 799},
        r"rule 6: src/core/long.c has 801 lines \(> 800\)"),
    7: ({}, r"rule 7: src/journal/ has no README.md"),
}


def build(root, files):
    """Compile the fixtures into root/src/<name>.o, a README per folder."""
    objs = []
    for name, text in files.items():
        c = os.path.join(root, "src", name + ".c")
        os.makedirs(os.path.dirname(c), exist_ok=True)
        with open(c, "w") as f:
            f.write(text + "\n")
        subprocess.run(["cc", "-c", "-o", c[:-2] + ".o", c], check=True)
        objs.append(c[:-2] + ".o")
    for d in FOLDERS[1:]:
        path = os.path.join(root, "src", d, "README.md")
        if os.path.isdir(os.path.dirname(path)):
            open(path, "w").close()
    return objs


def selftest():
    """Every rule fails on its fixture alone; the clean tree passes."""
    ok = True
    with tempfile.TemporaryDirectory() as d:
        symfile = os.path.join(d, "pg_symbols.txt")
        with open(symfile, "w") as f:
            f.write("\n".join(FAKE_PG.split()) + "\n")
        pg = pg_symbols(listfile=symfile)
        cases = [(0, {}, None)] + [(r, v[0], v[1])
                                   for r, v in VIOLATIONS.items()]
        for rule, extra, expect in cases:
            root = os.path.join(d, f"case{rule}")
            objs = build(root, {**CLEAN, **extra})
            if rule == 7:
                os.remove(os.path.join(root, "src", "journal", "README.md"))
            _, errs = check(objs, root, pg)
            got = "\n".join(errs)
            rules = {int(e.split()[1].rstrip(":")) for e in errs}
            if rule == 0:
                good = not errs
                what = "clean tree passes"
            else:
                good = rules == {rule} and re.fullmatch(expect, got)
                what = f"rule {rule} fails alone"
            print(f"modcycles self-test: {what}: "
                  + ("ok" if good else "FAILED") +
                  "".join(f"\n    {e}" for e in errs))
            ok = ok and bool(good)
    print("modcycles self-test: " + ("ok" if ok else "FAILED"))
    return 0 if ok else 1


# ---------------------------------------------------------------- main

def main(argv):
    if argv == ["--selftest"]:
        return selftest()
    opts, objs, it = {}, [], iter(argv)
    for a in it:
        if a in ("--postgres", "--pg-symbols", "--root"):
            opts[a] = next(it, None)
        elif a == "--graph":
            opts[a] = True
        elif a.startswith("--"):
            objs = []
            break
        else:
            objs.append(a)
    if not objs:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    root = opts.get("--root") or "."
    pg = pg_symbols(opts.get("--postgres"), opts.get("--pg-symbols"))
    print(f"PostgreSQL symbols from {pg.source}")
    t, errs = check(objs, root, pg)
    counts = {f: 0 for f in FOLDERS}
    for f in t.folder.values():
        counts[f] += 1
    print(f"{len(objs)} objects by folder: "
          + ", ".join(f"{f} {counts[f]}" for f in FOLDERS)
          + ("" if len(set(t.folder.values())) > 1
             else " (flat src/: rules 1-4 and 7 have nothing to check)"))
    if counts["http"]:
        unused = allow_list_unused(t)
        print(f"rule 3 allow-list: {len(HTTP_ALLOWED_CALLS) - len(unused)} of"
              f" {len(HTTP_ALLOWED_CALLS)} entries called from http/"
              + (f"; unused (remove them): {' '.join(unused)}"
                 if unused else ""))
    if opts.get("--graph"):
        for n in sorted(t.edges):
            print(f"{n} -> {' '.join(t.edges[n]) or '-'}")
    for e in errs:
        print(e, file=sys.stderr)
    if errs:
        print(f"structure: {len(errs)} failure(s)", file=sys.stderr)
        return 1
    print(f"structure ok: rules 1-7 hold ({sum(map(len, t.edges.values()))}"
          f" arrows, no upward arrow, no cycle, no src/ file over"
          f" {MAX_LINES} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
