#!/usr/bin/env python3
"""Configuration files through the real binary.

- Every file in tests/data/bad-config/ names on its first line what must be
  reported (`# expect: LINE:COLUMN: message`): `--check-config` exits 1 and
  prints `FILE:LINE:COLUMN: message` on stderr, and nothing on stdout.
- Every shipped file under config/ passes `--check-config` (exit 0).
- Command-line misuse exits 2; --version and --help exit 0.
"""

import harness
from harness import check, log

EXPECT = "# expect: "


def body(ctx):
    binary = harness.daemon_binary()
    src = harness.source_dir()

    bad = sorted((src / "tests" / "data" / "bad-config").glob("*.conf"))
    check(len(bad) >= 15, f"only {len(bad)} bad config files")
    for path in bad:
        first = path.read_bytes().split(b"\n", 1)[0].decode()
        check(first.startswith(EXPECT), f"{path.name}: no '{EXPECT}' line")
        expected = f"{path}:{first[len(EXPECT):]}"
        done = ctx.run(path.stem, [binary, "--check-config", "-c", path], 10)
        check(done.returncode == 1,
              f"{path.name}: exit {done.returncode}, expected 1\n{done.stderr}")
        check(expected in done.stderr,
              f"{path.name}: expected\n  {expected}\ngot\n  {done.stderr}")
        check(done.stdout == "", f"{path.name}: printed on stdout: {done.stdout}")
        check("Segmentation" not in done.stderr and "Sanitizer" not in done.stderr,
              f"{path.name}: crashed: {done.stderr}")
        log(f"bad config {path.name}: exit 1, {done.stderr.splitlines()[0]}")

    shipped = sorted((src / "config").rglob("*.conf"))
    check(len(shipped) >= 2, f"only {len(shipped)} shipped config files")
    for path in shipped:
        done = ctx.run(path.stem, [binary, "--check-config", "-c", path], 10)
        check(done.returncode == 0,
              f"{path}: exit {done.returncode}\n{done.stderr}")
        check("refclock" in done.stdout, f"{path}: nothing described: {done.stdout}")
        log(f"shipped config {path.relative_to(src)}: OK")

    usage = [
        ["--no-such-option"],
        ["--log-level", "verbose"],
        ["monitor", "--units", "300"],
        ["monitor", "--count", "0"],
        ["monitor", "--units", "1", "-c", "x.conf"],
        ["no-such-subcommand"],
    ]
    for argv in usage:
        done = ctx.run("usage", [binary] + argv, 10)
        check(done.returncode == 2, f"{argv}: exit {done.returncode}, expected 2\n"
              f"{done.stdout}{done.stderr}")
        check(done.stderr.strip() != "", f"{argv}: no message on stderr")
        log(f"usage error {argv}: exit 2")
    for argv in (["--version"], ["--help"], ["monitor", "--help"]):
        done = ctx.run("info", [binary] + argv, 10)
        check(done.returncode == 0, f"{argv}: exit {done.returncode}")
        check(done.stdout.strip() != "", f"{argv}: printed nothing")
    missing = ctx.run("missing", [binary, "-c", ctx.path("absent.conf")], 10)
    check(missing.returncode == 1 and "cannot read" in missing.stderr,
          f"missing config: exit {missing.returncode} {missing.stderr}")


if __name__ == "__main__":
    # About 80 runs of the binary, each a process start: under ASan beside
    # CI's compiles one took 0.6 s (51 s in all, once). A bound on elapsed
    # time, not a claim about it.
    harness.main("configs", body, timeout=170)
