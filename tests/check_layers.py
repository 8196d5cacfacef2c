#!/usr/bin/env python3
"""The layering of src/ (docs/design.md, "Layers"): each folder may include
only the folders below it, so that no arrow points upwards. Run by meson
(suite unit); exits 1 and names every include that breaks the rules.

  include/shmrefclock/  public library: includes nothing from src/
  src/deps/     fmt's and spdlog's out-of-line code, compiled once: their
                headers only
  src/lib/      the library's implementation: the public headers only
  src/core/     pure rules: no I/O headers (no fds, clocks, threads, logs)
  src/config/   core
  src/io/       core (the event loop, the log, fds)
  src/sources/  core, config, io (the source shells)
  src/outputs/  core, config, io
  src/tools/    core, config, io: never a source's shell, an output or the
                daemon
  src/daemon/   everything below; of the sources and outputs only their
                interfaces (sources/source.hpp, outputs/output.hpp)
  src/main.cpp  daemon, tools, config, io, core

Also refused, in the code of src/core/ (comments and strings left out): a
clock read (clock_gettime, time(&t), gettimeofday, std::chrono::*_clock::
now, ...), a sleep (sleep, usleep, nanosleep, std::this_thread::sleep_*),
a log or console line (spdlog, printf, puts, std::cout/cerr, fmt::print,
syslog; io/log.hpp is an include from above). And in all of src/, a comment (or a README) naming a
file of ours that is not in the tree: `foo/bar.cpp`, `bar.hpp`,
`src/meson.build`, `tests/README.md` (system and library headers, `*.h`
and `<...>`, are not ours).

  check_layers.py              check this tree
  check_layers.py --self-test  check small trees with one bad case each,
                               and fail unless each is refused
"""

import os
import pathlib
import re
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)

PUBLIC = "shmrefclock"
ALLOWED = {
    "deps": {"deps"},
    "lib": {"lib", PUBLIC},
    "core": {"core", PUBLIC},
    "config": {"config", "core", PUBLIC},
    "io": {"io", "core", PUBLIC},
    "sources": {"sources", "io", "config", "core", PUBLIC},
    "outputs": {"outputs", "io", "config", "core", PUBLIC},
    "tools": {"tools", "io", "config", "core", PUBLIC},
    "daemon": {"daemon", "io", "config", "core", PUBLIC},
    "main": {"daemon", "tools", "io", "config", "core", PUBLIC},
}
# The composition root's only view of the sources and outputs.
INTERFACES = {"daemon": {"sources/source.hpp", "outputs/output.hpp"}}
# What makes code I/O: the core takes time and bytes as arguments instead.
IO_HEADERS = re.compile(r"^(spdlog/|sys/(?!types\.h)|unistd\.h|fcntl\.h|termios\.h|"
                        r"thread|fstream|iostream|netdb\.h|poll\.h)")
# What the core's code (comments and strings removed) may not do. A member
# named time() (Cycle::time) is not the C library's time(), which takes an
# argument.
CORE_FORBIDDEN = [
    ("reads a clock",
     re.compile(r"\b(clock_gettime|clock_getres|gettimeofday|timespec_get|ntp_adjtime|adjtimex|"
                r"ftime)\s*\(|\b\w*clock\s*::\s*now\b|(?<![\w.>])(?:std\s*::\s*|::\s*)?time\s*"
                r"\(\s*(?:nullptr|NULL|0|&)|(?<![\w.>:])clock\s*\(\s*\)")),
    ("sleeps",
     re.compile(r"\b(sleep|usleep|nanosleep|clock_nanosleep)\s*\(|\bsleep_(for|until)\b")),
    ("logs or prints",
     re.compile(r"\bspdlog\b|\bSPDLOG_|\b(printf|vprintf|fprintf|vfprintf|dprintf|"
                r"puts|fputs|putchar|perror|syslog)\s*\(|\bstd\s*::\s*(cout|cerr|clog|print|"
                r"println)\b|\bfmt\s*::\s*print\b|\b(stdout|stderr)\b")),
]
# A file name in a comment: a path of ours (with or without folders), by its
# extension. Not `*.h` (system and library headers), nor .conf, .log or
# .txt: most of those are the system's (resolv.conf, chrony's refclocks.log,
# the kernel's devices.txt).
FILE_NAME = re.compile(r"(?<![\w./-])((?:[\w.+-]+/)*[\w+-][\w.+-]*\.(?:cpp|hpp|hpp\.in|py|sh|md|"
                       r"build|toml|json|service|pyi))(?![\w/-])")
# Other projects' files, cited by a path that starts with the project's
# name (spdlog/src/spdlog.cpp): not ours, not in this tree.
FOREIGN = re.compile(r"^(nlohmann|CLI|catch2|pybind11|spdlog|fmt|systemd|linux|sys)/")


def strip_code(text, keep="code"):
    """`text` (C++) with either the comments ("code": comments and string
    and character literals blanked) or the code ("comments": only comments
    kept) left; newlines stay, so that line numbers hold."""
    out = []
    i = 0
    n = len(text)

    def emit(chunk, is_comment):
        if (keep == "code") != is_comment:
            out.append(chunk)
        else:
            out.append("".join(c if c == "\n" else " " for c in chunk))

    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            emit(text[i:j], True)
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            emit(text[i:j], True)
            i = j
        elif c == '"' or (c == "R" and text.startswith('R"', i) and
                          (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_"))):
            if c == "R":
                m = re.match(r'R"([^(\s]*)\(', text[i:])
                end = text.find(")" + m.group(1) + '"', i) if m else -1
                j = n if end < 0 else end + len(m.group(1)) + 2
            else:
                j = i + 1
                while j < n and text[j] not in '"\n':
                    j += 2 if text[j] == "\\" else 1
                j = min(j + 1, n)
            # A string is neither code nor comment: blanked in both views.
            out.append("".join(ch if ch == "\n" else " " for ch in text[i:j]))
            i = j
        elif c == "'" and not (i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_")):
            j = i + 1  # a character literal, not a digit separator (1'000)
            while j < n and text[j] not in "'\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append("".join(ch if ch == "\n" else " " for ch in text[i:j]))
            i = j
        else:
            j = i + 1
            while j < n and text[j] not in "/\"'R":
                j += 1
            emit(text[i:j], False)
            i = j
    return "".join(out)


def comment_text(path, text):
    """What `path` says in prose: C++ comments, meson's # comments, a whole
    README."""
    if path.suffix in (".cpp", ".hpp", ".in"):
        return strip_code(text, keep="comments")
    if path.name == "meson.build":
        return "\n".join(line[line.index("#"):] if "#" in line else ""
                         for line in text.split("\n"))
    return text


def known_file(name, path, root, names):
    """Whether `name`, cited in `path`, is a file of the tree (or one meson
    generates from NAME.in): by its path from the root, src/, include/ or
    the citing folder, or, a bare name, by its name anywhere."""
    if "/" not in name:
        return name in names or name + ".in" in names
    name = name.removeprefix("./")
    return any((base / name).exists() or (base / (name + ".in")).exists()
               for base in (root, root / "src", root / "include", path.parent))


def check(root=ROOT):
    src = root / "src"
    problems = []
    for path in sorted(list(src.rglob("*.[ch]pp")) + list((root / "include").rglob("*.hpp"))):
        text = path.read_text()
        public = path.is_relative_to(root / "include")
        layer = PUBLIC if public else layer_of(src, path)
        for kind, name in INCLUDE.findall(text):
            close = ">" if kind == "<" else '"'
            where = f"{path.relative_to(root)}: #include {kind}{name}{close}"
            if kind == "<":
                if layer == "core" and IO_HEADERS.match(name):
                    problems.append(f"{where}: src/core/ does no I/O")
                continue
            if name == "config_h.hpp":
                continue
            target = name.split("/")[0] if "/" in name else None
            if public:
                if target != PUBLIC:
                    problems.append(f"{where}: the public headers include only each other")
                continue
            if target is None:
                problems.append(f"{where}: include by folder/name")
            elif name in INTERFACES.get(layer, set()):
                continue
            elif target not in ALLOWED[layer]:
                problems.append(f"{where}: {layer} may include only "
                                f"{', '.join(sorted(ALLOWED[layer]))}")
        if layer == "core":
            code = strip_code(text, keep="code")
            for number, line in enumerate(code.split("\n"), 1):
                for what, pattern in CORE_FORBIDDEN:
                    found = pattern.search(line)
                    if found:
                        problems.append(f"{path.relative_to(root)}:{number}: {found.group(0)!r}: "
                                        f"src/core/ never {what} (the shell does)")
    problems += stale_file_names(root)
    return problems


def stale_file_names(root):
    src = root / "src"
    names = set()
    for folder, subfolders, files in os.walk(root):
        # Not the build trees, the wrapped subprojects or .git.
        subfolders[:] = [d for d in subfolders
                         if not d.startswith((".", "build")) and d != "subprojects"]
        names.update(files)
    problems = []
    for path in sorted(p for p in src.rglob("*") if p.is_file() and
                       (p.suffix in (".cpp", ".hpp", ".in", ".md") or p.name == "meson.build")):
        prose = comment_text(path, path.read_text())
        for number, line in enumerate(prose.split("\n"), 1):
            for name in FILE_NAME.findall(line):
                if FOREIGN.match(name) or known_file(name, path, root, names):
                    continue
                problems.append(f"{path.relative_to(root)}:{number}: names {name}, "
                                "which is not in the tree")
    return problems


def layer_of(src, path):
    rel = path.relative_to(src)
    return "main" if rel.parts[0] == "main.cpp" else rel.parts[0]


# The self-test: each case is one file added to a minimal good tree, and
# must be refused; the good tree alone must pass.
GOOD_TREE = {
    "include/shmrefclock/sample.hpp": "#pragma once\n",
    "src/core/stamp.hpp": "#pragma once\n// See shmrefclock/sample.hpp and core/stamp.hpp.\n",
    "src/core/ok.cpp": ('#include "core/stamp.hpp"\n#include <chrono>\n'
                        "// Takes the time as an argument: never time(nullptr) or sleep(1).\n"
                        "int f(const Cycle& c) { return c.time() + cycle.time() + 1'000'000; }\n"
                        'const char* s = "printf(\\"x\\") sleep(1)";\n'
                        "using Clock = std::chrono::system_clock;\n"),
    "src/io/log.hpp": "#pragma once\n",
    "src/io/loop.cpp": ('#include "io/log.hpp"\n#include <ctime>\n'
                        "long now() { return time(nullptr); }\n"),
    "src/meson.build": "# core/ok.cpp and io/loop.cpp\nx = 1 # src/meson.build\n",
    "src/core/README.md": "May include: `shmrefclock/sample.hpp`, see core/ok.cpp.\n",
}
BAD_CASES = [
    ("src/core/upward.cpp", '#include "io/log.hpp"\n'),
    ("src/core/io_header.cpp", "#include <unistd.h>\n"),
    ("src/core/clock_gettime.cpp", "void f() { timespec t; clock_gettime(CLOCK_REALTIME, &t); }\n"),
    ("src/core/time.cpp", "long f() { return std::time(nullptr); }\n"),
    ("src/core/chrono_now.cpp", "auto f() { return std::chrono::steady_clock::now(); }\n"),
    ("src/core/gettimeofday.cpp", "void f(timeval* t) { gettimeofday(t, nullptr); }\n"),
    ("src/core/sleep.cpp", "void f() { usleep(10); }\n"),
    ("src/core/sleep_for.cpp", "void f() { std::this_thread::sleep_for(1s); }\n"),
    ("src/core/spdlog.cpp", 'void f() { spdlog::info("x"); }\n'),
    ("src/core/printf.cpp", 'void f() { printf("x"); }\n'),
    ("src/core/cerr.cpp", 'void f() { std::cerr << "x"; }\n'),
    ("src/core/stale.cpp", "// As core/gone.hpp says.\n"),
    ("src/core/stale_bare.hpp", "/* Moved from release_date.hpp. */\n"),
    ("src/io/stale_path.cpp", "// Listed in src/io/meson.build\n"),
    ("src/meson.build", GOOD_TREE["src/meson.build"] + "# see tools/nothing.cpp\n"),
    ("src/io/README.md", "May include core; see `io/gone.hpp`.\n"),
]


def self_test():
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        for name, text in GOOD_TREE.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)
        good = check(root)
        if good:
            failures.append(f"the good tree is refused: {good}")
        for name, text in BAD_CASES:
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            found = [problem for problem in check(root) if problem.startswith(name)]
            if found:
                print(f"refused, as it should be: {found[0]}")
            else:
                failures.append(f"{name}: not refused")
            if name in GOOD_TREE:
                path.write_text(GOOD_TREE[name])
            else:
                path.unlink()
    for failure in failures:
        print(f"SELF-TEST FAILED: {failure}")
    print(f"self-test: {len(BAD_CASES)} bad cases, {len(failures)} failures")
    return 1 if failures else 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    if sys.argv[1:]:
        print(__doc__)
        return 2
    # A self-test first, so that this check cannot pass by checking nothing.
    assert IO_HEADERS.match("spdlog/spdlog.h") and not IO_HEADERS.match("sys/types.h")
    src = ROOT / "src"
    files = list(src.rglob("*.[ch]pp"))
    if len(files) < 30:
        print(f"only {len(files)} files under {src}: wrong tree?")
        return 1
    problems = check()
    # A newcomer's map: every folder says what it owns and may include.
    for folder in sorted(p for p in src.iterdir() if p.is_dir()) + [ROOT / "include" / PUBLIC]:
        readme = folder / "README.md"
        if not readme.is_file() or "include" not in readme.read_text():
            problems.append(f"{folder.relative_to(ROOT)}: no README.md saying what it owns "
                            "and what it may include")
    for problem in problems:
        print(problem)
    print(f"{len(files)} files checked, {len(problems)} layering problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
