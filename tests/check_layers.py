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
"""

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
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


def layer_of(path):
    rel = path.relative_to(SRC)
    return "main" if rel.parts[0] == "main.cpp" else rel.parts[0]


def check():
    problems = []
    for path in sorted(list(SRC.rglob("*.[ch]pp")) + list((ROOT / "include").rglob("*.hpp"))):
        text = path.read_text()
        public = path.is_relative_to(ROOT / "include")
        layer = PUBLIC if public else layer_of(path)
        for kind, name in INCLUDE.findall(text):
            where = f"{path.relative_to(ROOT)}: #include {kind}{name}"
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
    return problems


def main():
    # A self-test first, so that this check cannot pass by checking nothing.
    assert IO_HEADERS.match("spdlog/spdlog.h") and not IO_HEADERS.match("sys/types.h")
    files = list(SRC.rglob("*.[ch]pp"))
    if len(files) < 30:
        print(f"only {len(files)} files under {SRC}: wrong tree?")
        return 1
    problems = check()
    # A newcomer's map: every folder says what it owns and may include.
    for folder in sorted(p for p in SRC.iterdir() if p.is_dir()) + [ROOT / "include" / PUBLIC]:
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
