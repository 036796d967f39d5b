#!/usr/bin/python3
"""Deterministic generator of a large bare repository for `make bench`.

    make_big_repo.py DEST [--profile big|small]

Shape (profile "big"; "small" is the same shape at about 1/40 of the size,
for BENCH_QUICK=1):

  * deep history: ~26,000 commits on main, plus side branches that fork off
    main and are merged back (real merge commits), ~130 annotated tags;
  * wide trees: 40 top-level folders x 25 sub-folders x 8 files, plus one
    folder of 2,000 files (a ~75 KB tree object that changes often);
  * files that change a little in each version (the pack holds deltas);
  * several packs plus loose objects, as a served repository looks between
    two `git gc` runs: the first ~85% of the history in one pack with a
    reachability bitmap (`git repack -adb`), then two more packs as later
    pushes leave them (fast-import packs, no bitmap), then the last commits
    as loose objects.

Everything is computed from a fixed seed with a private PRNG (xorshift), with
fixed names and dates: the same object ids on every run and machine (given
the same git object format). The generator writes a `git fast-import` stream;
the whole "big" repository takes on the order of a minute or two on a 2-core
machine.

The destination must not exist; it is made in DEST.tmp and renamed when
complete. GENERATOR_VERSION names the shape: bench.py caches generated
repositories keyed by it, so change it whenever the output changes.
"""

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

GENERATOR_VERSION = 1

PROFILES = {
    # commits on main; side branches are extra
    "big": dict(commits=26000, top=40, sub=25, files=8, wide=2000,
                lines=24, side_every=400, side_len=30, tag_every=200),
    "small": dict(commits=600, top=8, sub=6, files=5, wide=200,
                  lines=16, side_every=100, side_len=10, tag_every=50),
}

# Fractions of the main-line history per stage: stage 0 is repacked with a
# bitmap, stages 1 and 2 stay as fast-import packs, stage 3 becomes loose.
STAGES = (0.85, 0.07, 0.06, 0.02)

EPOCH = 1500000000


class Rng:
    """xorshift64*: deterministic everywhere, unlike anything that depends
    on the Python version's random module internals."""

    def __init__(self, seed):
        self.s = seed & 0xFFFFFFFFFFFFFFFF or 1

    def next(self):
        s = self.s
        s ^= (s >> 12)
        s ^= (s << 25) & 0xFFFFFFFFFFFFFFFF
        s ^= (s >> 27)
        self.s = s
        return (s * 0x2545F4914F6CDD1D) & 0xFFFFFFFFFFFFFFFF

    def below(self, n):
        return (self.next() >> 11) % n


WORDS = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu "
         "nu xi omicron pi rho sigma tau upsilon phi chi psi omega buffer "
         "socket event timer queue pool chain header request response upstream "
         "module config worker master signal cache shared zone limit rate "
         "proxy stream filter body chunk range gzip ssl http mail core").split()


class Generator:
    def __init__(self, profile):
        self.p = PROFILES[profile]
        self.rng = Rng(0x5EED0F617)
        self.time = EPOCH
        self.mark = 0
        p = self.p
        self.paths = []
        for t in range(p["top"]):
            for s in range(p["sub"]):
                for f in range(p["files"]):
                    self.paths.append("src/m%02d/s%02d/f%d.c" % (t, s, f))
        for w in range(p["wide"]):
            self.paths.append("wide/entry%04d.txt" % w)
        # file content = list of lines; a version counter per file keeps
        # every new version distinct
        self.content = {}
        for i, path in enumerate(self.paths):
            self.content[path] = [self.line(i, k) for k in range(p["lines"])]
        self.version = {path: 0 for path in self.paths}

    def line(self, salt, k):
        r = self.rng
        words = " ".join(WORDS[r.below(len(WORDS))] for _ in range(5))
        return "%d.%d %s;" % (salt, k, words)

    def blob(self, path):
        return ("\n".join(self.content[path]) + "\n").encode()

    def edit(self, path):
        """A new version of a file: one or two lines replaced, sometimes a
        line appended."""
        lines = self.content[path]
        self.version[path] += 1
        v = self.version[path]
        for _ in range(1 + self.rng.below(2)):
            k = self.rng.below(len(lines))
            lines[k] = self.line(v, k)
        if self.rng.below(8) == 0:
            lines.append(self.line(v, len(lines)))

    def pick_path(self):
        r = self.rng.below(100)
        if r < 12:
            # the wide folder: its big tree object changes often
            return self.paths[len(self.paths) - 1 - self.rng.below(
                self.p["wide"])]
        return self.paths[self.rng.below(len(self.paths) - self.p["wide"])]

    def tick(self):
        self.time += 60 + self.rng.below(3600)
        return self.time

    def commit_header(self, out, ref, message, parents):
        self.mark += 1
        t = self.tick()
        out.append(("commit %s\nmark :%d\n" % (ref, self.mark)).encode())
        out.append(("author Bench Author <author@example.com> %d +0000\n"
                    "committer Bench Committer <committer@example.com> %d "
                    "+0000\n" % (t, t)).encode())
        msg = message.encode()
        out.append(b"data %d\n%s\n" % (len(msg), msg))
        for i, parent in enumerate(parents):
            out.append(("%s %s\n" % ("from" if i == 0 else "merge",
                                     parent)).encode())
        return self.mark

    def file_lines(self, out, paths):
        for path in paths:
            data = self.blob(path)
            out.append(b"M 100644 inline %s\ndata %d\n" % (path.encode(),
                                                          len(data)))
            out.append(data)
            out.append(b"\n")


def run(cmd, cwd=None, stdin=None, input=None):
    env = dict(os.environ)
    env.update({"GIT_CONFIG_NOSYSTEM": "1", "HOME": str(cwd or "."),
                "LC_ALL": "C"})
    r = subprocess.run(cmd, cwd=cwd, stdin=stdin, input=input, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        sys.stderr.write(r.stderr.decode(errors="replace"))
        raise SystemExit("failed: %s" % " ".join(map(str, cmd)))
    return r.stdout.decode()


def generate(dest, profile):
    g = Generator(profile)
    p = g.p
    dest = Path(dest).resolve()
    git = ["git", "-C", str(dest)]
    run(["git", "init", "-q", "--bare", "-b", "main", str(dest)])
    run(git + ["config", "gc.auto", "0"])
    run(git + ["config", "core.logAllRefUpdates", "false"])

    total = p["commits"]
    bounds = []
    acc = 0.0
    for frac in STAGES:
        acc += frac
        bounds.append(min(total, int(round(acc * total))))
    bounds[-1] = total

    n = 0            # main-line commits made
    main_tip = None  # "from" of the next main commit: ":mark" or a sha
    side = None      # (name, tip, commits left, changed paths, base)
    side_count = 0
    tags = 0
    for stage, end in enumerate(bounds):
        out = []
        marks = {}
        while n < end:
            if main_tip is None:
                # root commit: every file
                m = g.commit_header(out, "refs/heads/main", "initial import",
                                    [])
                g.file_lines(out, g.paths)
                main_tip = ":%d" % m
                n += 1
                continue
            if side is None and n % p["side_every"] == p["side_every"] // 2:
                side_count += 1
                side = {"name": "refs/heads/topic/%04d" % side_count,
                        "tip": main_tip, "left": p["side_len"],
                        "changed": set()}
            if side is not None and side["left"] > 0:
                # one commit on the side branch for every main commit
                paths = [g.pick_path() for _ in range(1 + g.rng.below(3))]
                for path in paths:
                    g.edit(path)
                m = g.commit_header(out, side["name"], "topic %d: change %d"
                                    % (side_count, side["left"]),
                                    [side["tip"]])
                g.file_lines(out, sorted(set(paths)))
                side["tip"] = ":%d" % m
                side["changed"].update(paths)
                side["left"] -= 1
            paths = [g.pick_path() for _ in range(1 + g.rng.below(5))]
            if side is not None and side["left"] == 0:
                # merge: the file contents are shared by both lines here
                # (one content per path), so the merge tree is the union
                m = g.commit_header(out, "refs/heads/main",
                                    "Merge topic %d" % side_count,
                                    [main_tip, side["tip"]])
                g.file_lines(out, sorted(side["changed"]))
                side = None
            else:
                for path in paths:
                    g.edit(path)
                m = g.commit_header(out, "refs/heads/main",
                                    "change %d: %s" % (n, paths[0]),
                                    [main_tip])
                g.file_lines(out, sorted(set(paths)))
            main_tip = ":%d" % m
            n += 1
            if n % p["tag_every"] == 0:
                tags += 1
                t = g.tick()
                msg = ("release %d" % tags).encode()
                out.append(("tag v%d.%d\nfrom %s\ntagger Bench Tagger "
                            "<tagger@example.com> %d +0000\n"
                            % (tags // 10, tags % 10, main_tip, t)).encode())
                out.append(b"data %d\n%s\n" % (len(msg), msg))
        marks_file = dest / ("stage%d.marks" % stage)
        pack_dir = dest / "objects" / "pack"
        before = set(pack_dir.glob("*.pack"))
        run(git + ["fast-import", "--quiet", "--export-marks=%s" % marks_file,
                   "--depth=50"], input=b"".join(out))
        # marks are valid within one fast-import run only: translate the
        # tips for the next stage
        for line in marks_file.read_text().splitlines():
            k, sha = line.split()
            marks[k] = sha
        marks_file.unlink()
        if main_tip.startswith(":"):
            main_tip = marks[main_tip]
        if side is not None and side["tip"].startswith(":"):
            side["tip"] = marks[side["tip"]]
        if stage == 0:
            # the state a `git gc` leaves: one pack with a bitmap
            run(git + ["repack", "-q", "-a", "-d", "-b",
                       "--window=10", "--depth=50"])
        elif stage == len(bounds) - 1:
            # the newest commits as loose objects
            new = sorted(set(pack_dir.glob("*.pack")) - before)
            for pack in new:
                tmp = dest / ("unpack-%s" % pack.name)
                pack.rename(tmp)
                pack.with_suffix(".idx").unlink()
                with open(tmp, "rb") as f:
                    run(git + ["unpack-objects", "-q"], stdin=f)
                tmp.unlink()
    run(git + ["symbolic-ref", "HEAD", "refs/heads/main"])
    (dest / "git-daemon-export-ok").write_text("")
    # fast-import writes no reflogs here; nothing else to clean
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dest")
    ap.add_argument("--profile", choices=sorted(PROFILES), default="big")
    ap.add_argument("--version", action="store_true",
                    help="print the generator version and exit")
    if "--version" in sys.argv[1:]:
        print(GENERATOR_VERSION)
        return
    args = ap.parse_args()
    dest = Path(args.dest)
    if dest.exists():
        raise SystemExit("%s exists" % dest)
    tmp = dest.with_name(dest.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    generate(tmp, args.profile)
    tmp.rename(dest)


if __name__ == "__main__":
    main()
