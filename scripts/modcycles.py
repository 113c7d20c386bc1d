#!/usr/bin/env python3
"""modcycles.py: the calls between src/ object files, from nm, and any
cycle among them.  Exit status 1 if there is a cycle.

    python3 scripts/modcycles.py [--graph] src/*.o src/*/*.o
    python3 scripts/modcycles.py --selftest    (it does find a cycle)
"""
import os
import subprocess
import sys
import tempfile


def symbols(obj):
    defined, undefined = set(), set()
    out = subprocess.run(["nm", obj], capture_output=True, text=True,
                         check=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "U":
            undefined.add(parts[1])
        elif len(parts) == 3 and parts[1] in "TDBR":
            defined.add(parts[2])
    return defined, undefined


def selftest():
    """Two objects calling each other must be reported, one way must not."""
    with tempfile.TemporaryDirectory() as d:
        src = {"a": "int b(void); int a(void) { return b(); }",
               "b": "int a(void); int b(void) { return a(); }",
               "c": "int a(void); int c(void) { return a(); }"}
        for name, text in src.items():
            with open(os.path.join(d, name + ".c"), "w") as f:
                f.write(text + "\n")
            subprocess.run(["cc", "-c", "-o", os.path.join(d, name + ".o"),
                            os.path.join(d, name + ".c")], check=True)
        obj = lambda *n: [os.path.join(d, x + ".o") for x in n]
        with open(os.devnull, "w") as null:
            saved, sys.stderr = sys.stderr, null
            try:
                found = main(obj("a", "b", "c"))
                clean = main(obj("a", "c"))
            finally:
                sys.stderr = saved
        ok = found == 1 and clean == 0
        print("modcycles self-test: " + ("ok" if ok else "FAILED"))
        return 0 if ok else 1


def main(argv):
    if argv == ["--selftest"]:
        return selftest()
    graph_only = "--graph" in argv
    objs = [a for a in argv if not a.startswith("--")]
    if not objs:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    owner = {}
    needs = {}
    for o in objs:
        d, u = symbols(o)
        name = o.rsplit("/", 1)[-1][:-2]
        for s in d:
            owner[s] = name
        needs[name] = u
    edges = {n: sorted({owner[s] for s in u if s in owner and owner[s] != n})
             for n, u in needs.items()}
    if graph_only:
        for n in sorted(edges):
            print(f"{n} -> {' '.join(edges[n]) or '-'}")
    # Tarjan's strongly connected components
    index, low, stack, on, sccs = {}, {}, [], set(), []

    def visit(v, counter=[0]):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
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

    for v in sorted(edges):
        if v not in index:
            visit(v)
    for c in sccs:
        print("cycle among: " + " ".join(c), file=sys.stderr)
    return 1 if sccs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
