#!/usr/bin/env python3
#
# doccheck.py: runs every shell example of the README and the docs, in
# order, against a throwaway cluster of its own, and compares what each
# command prints with what the example shows.  `make doccheck` runs it;
# scripts/test.sh runs it as part of the whole suite.
#
# The examples are Markdown blocks fenced as ```console.  In them:
#   - a line starting with "$ " is a command (a line ending in "\" goes on
#     to the next line);
#   - the lines after a command, up to the next command or the fence, are
#     what it prints (stdout and stderr together);
#   - a line that is exactly "..." matches zero or more lines; "..." within
#     a line matches any text within that line.
# A command that exits non-zero must show what it prints.  A block may be
# left out only with "<!-- doccheck: skip REASON -->" on the line before
# its fence; the summary counts and names those.  A shell example fenced
# as sh, bash or shell is an error: every shell example runs.
#
# The files are README.md and then the pages its section "Where to go
# next" links to (*.md under docs/, client/, bench/ and test/), in that
# order; a docs/*.md page it does not link to is an error.  All of
# them run in one bash, one command after another, so that exports and
# files made by one example are there for the next, in a copy of the
# tree, as the user who runs this script (root in CI).
#
# The cluster is made by scripts/setup.sh reset (the set-up the README
# gives) in a directory of its own with free ports.  The examples are
# written for the set-up cluster (PostgreSQL 5499, HTTP 8000, directory
# /var/tmp/evproc-cluster): these three are replaced, in the commands and
# in what they show, by this run's; PGHOST, PGPORT, PGUSER and the
# EVPROC_* variables of scripts/setup.sh and evproc-client's EVPROC_URL
# are set to this run's cluster.
#
#   scripts/doccheck.py             run every example
#   scripts/doccheck.py --list      list the examples, run nothing
#   scripts/doccheck.py --self-test test the matching and the parsing
#
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMAND_TIMEOUT = float(os.environ.get("DOCCHECK_TIMEOUT", "120"))
SHELL_TAGS = ("sh", "bash", "shell", "zsh")
SKIP_RE = re.compile(r"^<!--\s*doccheck:\s*skip\s+(.+?)\s*-->\s*$")
LINK_RE = re.compile(r"\]\(((?:\.\./|\./)?(?:docs|client|bench|test)/[^)#\s]*\.md)(?:#[^)]*)?\)")


class Example:
    """One ```console block: where it is, its commands, and why it is skipped."""

    def __init__(self, path, line, skip):
        self.path = path
        self.line = line
        self.skip = skip
        self.commands = []		# (line, command text, [expected lines])


def parse(path, text):
    """Returns the console examples of a Markdown text; raises on shell blocks."""
    examples = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)```+\s*([A-Za-z0-9_+-]*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        tag = m.group(2).lower()
        start = i
        j = i + 1
        while j < len(lines) and not re.match(r"^\s*```+\s*$", lines[j]):
            j += 1
        body = lines[i + 1:j]
        if tag in SHELL_TAGS:
            raise ValueError("%s:%d: a shell example fenced as %s; "
                             "fence it as console (it then runs)" % (path, start + 1, tag))
        if tag == "console":
            skip = None
            k = start - 1
            if k >= 0:
                sm = SKIP_RE.match(lines[k].strip())
                if sm:
                    skip = sm.group(1)
            ex = Example(path, start + 1, skip)
            indent = len(m.group(1))
            cmd = None
            for n, raw in enumerate(body):
                ln = raw[indent:] if raw[:indent].strip() == "" else raw
                if cmd is not None and cmd[3]:
                    cmd[1] += "\n" + ln
                    cmd[3] = ln.endswith("\\")
                    continue
                if ln.startswith("$ ") or ln == "$":
                    cmd = [start + 2 + n, ln[2:], [], ln.endswith("\\")]
                    ex.commands.append(cmd)
                elif cmd is None:
                    if ln.strip():
                        raise ValueError("%s:%d: output before any command in a console block"
                                         % (path, start + 2 + n))
                else:
                    cmd[2].append(ln)
            for c in ex.commands:
                while c[2] and c[2][-1].strip() == "":
                    c[2].pop()
            ex.commands = [(c[0], c[1], c[2]) for c in ex.commands]
            if not ex.commands:
                raise ValueError("%s:%d: a console block with no command" % (path, start + 1))
            examples.append(ex)
        i = j + 1
    return examples


def line_matches(want, got):
    """Does one expected line (with "..." for any text) match one output line?"""
    want = want.rstrip()
    got = got.rstrip()
    if "..." not in want:
        return want == got
    pattern = ".*".join(re.escape(part) for part in want.split("..."))
    return re.fullmatch(pattern, got, re.S) is not None


def lines_match(want, got):
    """Do the expected lines match the output lines ("..." alone: any lines)?"""
    memo = {}

    def m(i, j):
        key = (i, j)
        if key in memo:
            return memo[key]
        if i == len(want):
            r = j == len(got)
        elif want[i].strip() == "...":
            r = m(i + 1, j) or (j < len(got) and m(i, j + 1))
        else:
            r = j < len(got) and line_matches(want[i], got[j]) and m(i + 1, j + 1)
        memo[key] = r
        return r
    return m(0, 0)


def doc_files():
    """README.md, then the pages its "Where to go next" links to, in order."""
    files = ["README.md"]
    with open(os.path.join(TOP, "README.md")) as f:
        readme = f.read()
    m = re.search(r"^#+ Where to go next\s*$(.*?)(?=^#|\Z)", readme, re.M | re.S)
    if not m:
        raise ValueError("README.md has no section \"Where to go next\"")
    for target in LINK_RE.findall(m.group(1)):
        p = os.path.normpath(target)
        if p not in files and os.path.exists(os.path.join(TOP, p)):
            files.append(p)
    docs = os.path.join(TOP, "docs")
    if os.path.isdir(docs):
        for name in sorted(os.listdir(docs)):
            p = os.path.join("docs", name)
            if name.endswith(".md") and p not in files:
                raise ValueError("%s is not linked from README.md" % p)
    return files


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Shell:
    """One bash for every command, so that exports and cd carry over."""

    def __init__(self, cwd, env):
        self.proc = subprocess.Popen(["bash", "--noprofile", "--norc"], cwd=cwd, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.count = 0

    def run(self, command):
        """Runs a command (stdin from /dev/null); returns (status, output) or raises on a timeout."""
        self.count += 1
        marker = "__doccheck_done_%d_%d" % (os.getpid(), self.count)
        script = "{\n%s\n} </dev/null\nprintf '\\n%s %%d\\n' $?\n" % (command, marker)
        self.proc.stdin.write(script.encode())
        self.proc.stdin.flush()
        out = b""
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + COMMAND_TIMEOUT
        pat = re.compile(rb"\n" + marker.encode() + rb" (\d+)\n")
        while True:
            m = pat.search(out)
            if m:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(out.decode(errors="replace"))
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise EOFError(out.decode(errors="replace"))
                out += chunk
        text = out[:m.start()].decode(errors="replace")
        if text.endswith("\n"):
            text = text[:-1]
        return int(m.group(1)), text.split("\n") if text else []

    def close(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()


def substitute(text, subs):
    for old, new in subs:
        text = re.sub(r"(?<![0-9A-Za-z])" + re.escape(old) + r"(?![0-9A-Za-z])", new, text)
    return text


def run_all(list_only):
    files = doc_files()
    examples = []
    for p in files:
        with open(os.path.join(TOP, p)) as f:
            examples += parse(p, f.read())
    runnable = [e for e in examples if not e.skip]
    skipped = [e for e in examples if e.skip]
    if list_only:
        for e in examples:
            print("%s:%d: %d command(s)%s" % (e.path, e.line, len(e.commands),
                                              "; skipped: " + e.skip if e.skip else ""))
        return 0

    work = tempfile.mkdtemp(prefix="evproc-doccheck.")
    os.chmod(work, 0o755)
    tree = os.path.join(work, "tree")
    shutil.copytree(TOP, tree, symlinks=True,
                    ignore=shutil.ignore_patterns(".git", "tmp_check", "tmp_regress", "results"))
    pgdata = os.path.join(work, "cluster")
    pgport, httpport = str(free_port()), str(free_port())
    while httpport == pgport:
        httpport = str(free_port())
    bindir = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                            check=True).stdout.strip()
    env = dict(os.environ)
    env.update({
        "EVPROC_PGDATA": pgdata, "EVPROC_PGPORT": pgport, "EVPROC_HTTP_PORT": httpport,
        "EVPROC_URL": "http://127.0.0.1:%s" % httpport,
        "PGHOST": "/tmp", "PGPORT": pgport, "PGUSER": "postgres", "PGDATABASE": "postgres",
        "PATH": "%s:%s" % (bindir, env.get("PATH", "/usr/bin:/bin")),
        "LC_ALL": "C.UTF-8", "TERM": "dumb", "NO_COLOR": "1",
    })
    env.pop("CDPATH", None)
    subs = [("/var/tmp/evproc-cluster", pgdata), ("5499", pgport), ("8000", httpport)]

    print("doccheck: %d examples in %s; cluster %s (PostgreSQL %s, HTTP %s)"
          % (len(examples), ", ".join(files), pgdata, pgport, httpport), flush=True)
    r = subprocess.run(["bash", "scripts/setup.sh", "reset"], cwd=tree, env=env,
                       capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stdout + r.stderr)
        print("doccheck: scripts/setup.sh reset failed")
        return 1

    shell = Shell(tree, env)
    failed = None
    ran = 0
    try:
        for e in runnable:
            for line, command, want in e.commands:
                cmd = substitute(command, subs)
                want = [substitute(w, subs) for w in want]
                try:
                    status, got = shell.run(cmd)
                except TimeoutError as t:
                    failed = (e.path, line, command, want, str(t).split("\n"),
                              "did not finish within %.0f s" % COMMAND_TIMEOUT)
                    break
                except EOFError as t:
                    failed = (e.path, line, command, want, str(t).split("\n"), "the shell exited")
                    break
                ran += 1
                why = None
                if not lines_match(want, got):
                    why = "its output differs from the example's"
                elif status != 0 and not want:
                    why = "it exited with status %d and the example shows no output" % status
                if why:
                    failed = (e.path, line, command, want, got, why)
                    break
            if failed:
                break
    finally:
        shell.close()
        subprocess.run(["bash", "scripts/setup.sh", "stop"], cwd=tree, env=env,
                       capture_output=True)

    if failed:
        path, line, command, want, got, why = failed
        print("doccheck: FAILED at %s:%d: %s: %s" % (path, line, why, command))
        print("--- the example shows")
        print("\n".join(want) if want else "(nothing)")
        print("--- it printed")
        print("\n".join(got) if got else "(nothing)")
        print("(the cluster is kept in %s; its log is %s/server.log)" % (pgdata, pgdata))
        return 1
    shutil.rmtree(work, ignore_errors=True)
    print("doccheck: %d examples (%d commands) ran and matched; %d skipped%s"
          % (len(runnable), ran, len(skipped), ":" if skipped else ""))
    for e in skipped:
        print("  %s:%d: %s" % (e.path, e.line, e.skip))
    return 0


def self_test():
    """Proves that matching and parsing accept what they should and only that."""
    ok = True

    def check(what, got, want):
        nonlocal ok
        if got != want:
            ok = False
            print("self-test FAILED: %s: got %r, want %r" % (what, got, want))

    check("exact", lines_match(["a", "b"], ["a", "b"]), True)
    check("exact differs", lines_match(["a", "b"], ["a", "c"]), False)
    check("missing line", lines_match(["a", "b"], ["a"]), False)
    check("extra line", lines_match(["a"], ["a", "b"]), False)
    check("... any lines", lines_match(["a", "...", "z"], ["a", "b", "c", "z"]), True)
    check("... no lines", lines_match(["a", "...", "z"], ["a", "z"]), True)
    check("... not past the end", lines_match(["a", "...", "z"], ["a", "b"]), False)
    check("in-line ...", lines_match(['{"id": "...", "n": 1}'], ['{"id": "x7", "n": 1}']), True)
    check("in-line ... differs", lines_match(['{"id": "...", "n": 1}'], ['{"id": "x7", "n": 2}']), False)
    check("regex characters are literal", lines_match(["a.b (c)"], ["axb (c)"]), False)
    check("trailing blanks ignored", lines_match(["a  "], ["a"]), True)
    check("nothing shown, nothing printed", lines_match([], []), True)
    check("nothing shown, something printed", lines_match([], ["x"]), False)
    check("ports replaced", substitute("curl http://127.0.0.1:8000/x -p 5499 80001",
                                       [("5499", "1"), ("8000", "2")]),
          "curl http://127.0.0.1:2/x -p 1 80001")
    md = "\n".join([
        "text", "<!-- doccheck: skip needs a fresh machine -->", "```console",
        "$ apt install x", "```", "```console", "$ echo a \\", "  b", "a b", "$ true", "```",
        "```text", "$ not a command", "```"])
    ex = parse("t.md", md)
    check("two console blocks", len(ex), 2)
    check("skip reason", ex[0].skip, "needs a fresh machine")
    check("continuation", ex[1].commands[0][1], "echo a \\\n  b")
    check("output", ex[1].commands[0][2], ["a b"])
    check("second command", ex[1].commands[1][1:], ("true", []))
    try:
        parse("t.md", "```sh\nls\n```")
        check("sh block refused", False, True)
    except ValueError:
        pass
    sh = Shell(tempfile.gettempdir(), dict(os.environ))
    try:
        check("shell output", sh.run("echo one; printf two"), (0, ["one", "two"]))
        check("shell status", sh.run("export X=5; false"), (1, []))
        check("exports carry over", sh.run("echo $X"), (0, ["5"]))
        check("stdin is empty", sh.run("cat"), (0, []))
    finally:
        sh.close()
    print("doccheck self-test: %s" % ("ok" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    if "--self-test" in sys.argv[1:]:
        sys.exit(self_test())
    try:
        sys.exit(run_all("--list" in sys.argv[1:]))
    except ValueError as err:
        print("doccheck: %s" % err)
        sys.exit(1)
