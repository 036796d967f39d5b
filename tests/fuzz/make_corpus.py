#!/usr/bin/python3
"""Writes the fuzz targets' seed corpora (tests/fuzz/corpus/<name>/) from
real traffic: git clients clone and fetch the fixture repository of
make_fixture.sh through git http-backend behind a small recording HTTP
server, and every request body they POST is kept as sent (gzip included);
git push sends its receive-pack requests to copies of the fixture's
push.git the same way; the fixture's own .idx, .rev and .bitmap seed the
pack readers.

Run it again after changing make_fixture.sh or when git changes what it
sends: the seeds name the fixture's object ids. Usage: make_corpus.py
"""

import gzip
import hashlib
import http.server
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"

GIT_ENV = {
    "GIT_AUTHOR_NAME": "A U Thor", "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "C O Mitter", "GIT_COMMITTER_EMAIL": "committer@example.com",
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "TZ": "UTC",
}


class Recorder(http.server.BaseHTTPRequestHandler):
    """A CGI gateway to git http-backend that keeps each POST body."""
    protocol_version = "HTTP/1.0"
    root = None
    bodies = []  # (git_protocol, content_encoding, raw body)

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.cgi(b"")

    def do_POST(self):
        if "chunked" in self.headers.get("Transfer-Encoding", ""):
            raise RuntimeError("chunked request bodies are not recorded")
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.bodies.append((self.headers.get("Git-Protocol", ""),
                            self.headers.get("Content-Encoding", ""), body))
        self.cgi(body)

    def cgi(self, body):
        path, _, query = self.path.partition("?")
        env = dict(os.environ, GIT_PROJECT_ROOT=self.root, GIT_HTTP_EXPORT_ALL="1",
                   PATH_INFO=path, QUERY_STRING=query, REQUEST_METHOD=self.command,
                   CONTENT_TYPE=self.headers.get("Content-Type", ""),
                   CONTENT_LENGTH=str(len(body)), REMOTE_ADDR="127.0.0.1")
        for header, var in (("Git-Protocol", "HTTP_GIT_PROTOCOL"),
                            ("Content-Encoding", "HTTP_CONTENT_ENCODING")):
            if header in self.headers:
                env[var] = self.headers[header]
        out = subprocess.run(["git", "http-backend"], input=body, env=env,
                             capture_output=True, check=True).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.decode().split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            else:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def git(*args, cwd=None, env=None):
    subprocess.run(["git", *args], cwd=cwd, env=dict(os.environ, **GIT_ENV, **(env or {})),
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def local_commits(repo, count):
    """Commits the server lacks, so that a fetch sends many haves (a body
    over 1 KiB, which git gzips)."""
    for i in range(count):
        when = f"@{1800000000 + i * 60} +0000"
        git("commit", "-q", "--allow-empty", "-m", f"local {i}", cwd=repo,
            env={"GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when})


def scenarios(url, work, version):
    """Real client commands of one protocol version, each named."""
    v = ["-c", f"protocol.version={version}"]
    yield "clone", lambda: git(*v, "clone", "-q", url, f"{work}/clone")
    yield "ls-remote", lambda: git(*v, "ls-remote", url)
    yield "ls-remote-heads", lambda: git(*v, "ls-remote", "--heads", "--tags", url)

    def fetch_with_haves():
        git(*v, "clone", "-q", "--single-branch", "-b", "side", url, f"{work}/haves")
        git(*v, "fetch", "-q", "origin", "main", cwd=f"{work}/haves")
    yield "fetch-haves", fetch_with_haves

    def shallow():
        # git 2.39's server fails a shallow clone that uses want-ref.
        server_repo = f"{Recorder.root}/repo.git"
        git("config", "uploadpack.allowRefInWant", "false", cwd=server_repo)
        try:
            git(*v, "clone", "-q", "--depth", "2", url, f"{work}/shallow")
            git(*v, "fetch", "-q", "--deepen", "2", cwd=f"{work}/shallow")
            git(*v, "fetch", "-q", "--shallow-exclude", "side", "origin", "main",
                cwd=f"{work}/shallow")
        finally:
            git("config", "uploadpack.allowRefInWant", "true", cwd=server_repo)
    yield "shallow", shallow

    def partial():
        git(*v, "clone", "-q", "--no-checkout", "--filter=blob:none", url, f"{work}/partial")
        if version == 2:  # a lazy fetch of the missing blobs
            git(*v, "checkout", "-q", "main", cwd=f"{work}/partial")
    yield "partial", partial

    def gzipped():
        git(*v, "clone", "-q", "--single-branch", "-b", "side", url, f"{work}/gzip")
        local_commits(f"{work}/gzip", 60)
        git(*v, "fetch", "-q", "origin", "main", cwd=f"{work}/gzip")
    yield "gzip", gzipped


class Seeds:
    def __init__(self):
        self.seen = {}

    def add(self, target, name, data):
        key = (target, hashlib.sha1(data).hexdigest())
        if key in self.seen:
            return
        self.seen[key] = name
        folder = CORPUS / target
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)


def record_requests(tmp, seeds):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    Recorder.root = str(tmp)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/repo.git"
    try:
        for version, target in ((2, "v2_request"), (0, "v0_request")):
            work = tmp / f"clients-v{version}"
            work.mkdir()
            for name, run in scenarios(url, work, version):
                Recorder.bodies.clear()
                run()
                for i, (proto, encoding, raw) in enumerate(Recorder.bodies):
                    if ("version=2" in proto) != (version == 2):
                        raise RuntimeError(f"{name}: Git-Protocol {proto!r}")
                    label = f"{name}-{i}"
                    body = raw
                    if encoding == "gzip":
                        seeds.add("request_body", f"v{version}-{label}.gz", raw)
                        body = gzip.decompress(raw)
                    elif encoding:
                        raise RuntimeError(f"{name}: Content-Encoding {encoding!r}")
                    seeds.add(target, label, body)
                    seeds.add("pkt_line", f"v{version}-{label}", body)
    finally:
        server.shutdown()
    if not any((CORPUS / "request_body").iterdir()):
        raise RuntimeError("no request was gzipped")


def push_scenarios(url_of, work):
    """Real git push commands, each named; url_of(name) is the URL of a
    fresh copy of the fixture's push.git."""
    def push(name, *args):
        git("-c", "pack.threads=1", "push", "-q", *args[:-1], url_of(name), *args[-1],
            cwd=work)

    def commit(message, path="pushed.txt"):
        Path(work, path).write_text(message + "\n")
        git("add", path, cwd=work)
        when = f"@{1800000000 + len(message) * 60} +0000"
        git("commit", "-q", "-m", message, cwd=work,
            env={"GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when})

    def fast_forward():
        commit("fast forward")
        push("ff", ["main"])
    yield "ff", fast_forward

    def new_branch_and_tag():
        git("checkout", "-q", "-b", "topic", cwd=work)
        commit("on a new branch", "topic.txt")
        git("tag", "-a", "-m", "pushed tag", "v2", cwd=work,
            env={"GIT_COMMITTER_DATE": "@1800009000 +0000"})
        git("checkout", "-q", "main", cwd=work)
        push("new", ["topic", "refs/tags/v2"])
    yield "new-branch-tag", new_branch_and_tag

    yield "delete", lambda: push("delete", [":refs/heads/side", ":refs/tags/light"])

    def options_atomic():
        commit("with options")
        push("options", "--atomic", "-o", "ci.skip", "-o", "reviewer=someone",
             ["main", "main:refs/heads/copy"])
    yield "options-atomic", options_atomic

    # last: the pushes above build on the fixture's main
    def force():
        git("reset", "-q", "--hard", "HEAD~3", cwd=work)
        commit("history rewritten")
        push("force", "--force", ["main"])
    yield "force", force

    def hidden():
        # refused by receive.hideRefs: still a request the target must read
        git_failing("-c", "pack.threads=1", "push", "-q", url_of("hidden"),
                    "main:refs/hidden/secret", cwd=work)
    yield "hidden", hidden


def git_failing(*args, cwd=None):
    """git that is expected to fail (a push the server refuses)."""
    r = subprocess.run(["git", *args], cwd=cwd, env=dict(os.environ, **GIT_ENV),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if r.returncode == 0:
        raise RuntimeError(f"git {' '.join(args)} succeeded")


def record_push_requests(tmp, seeds):
    """The bodies git push POSTs to git-receive-pack, each push to a fresh
    copy of push.git (so that every seed's old ids are the fixture's)."""
    root = tmp / "pushes"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    Recorder.root = str(root)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def url_of(name):
        shutil.copytree(tmp / "push.git", root / f"{name}.git")
        return f"http://127.0.0.1:{server.server_port}/{name}.git"
    work = tmp / "push-client"
    git("clone", "-q", str(tmp / "repo.git"), str(work))
    try:
        for name, run in push_scenarios(url_of, work):
            Recorder.bodies.clear()
            run()
            posts = list(Recorder.bodies)
            if not posts:
                raise RuntimeError(f"push {name}: nothing POSTed")
            for i, (_proto, encoding, raw) in enumerate(posts):
                body = gzip.decompress(raw) if encoding == "gzip" else raw
                if encoding not in ("", "gzip"):
                    raise RuntimeError(f"{name}: Content-Encoding {encoding!r}")
                seeds.add("receive_request", f"{name}-{i}", body)
    finally:
        server.shutdown()


def record_pack_files(tmp, seeds):
    pack_dir = tmp / "repo.git" / "objects" / "pack"
    base = next(pack_dir.glob("pack-*.idx")).with_suffix("")
    idx = base.with_suffix(".idx").read_bytes()
    pack_size = base.with_suffix(".pack").stat().st_size
    rev = base.with_suffix(".rev").read_bytes()
    head = struct.pack(">II", pack_size, len(idx))
    seeds.add("pack_index", "v2-rev", head + idx + rev)
    seeds.add("pack_index", "v2", head + idx)
    v1 = tmp / "v1.idx"
    git("index-pack", "--index-version=1", "-o", str(v1), str(base.with_suffix(".pack")))
    seeds.add("pack_index", "v1", struct.pack(">II", pack_size, v1.stat().st_size)
              + v1.read_bytes())

    # fuzz_pack_check: a piece-size byte, then a pack as a push sends it
    pack = base.with_suffix(".pack").read_bytes()
    seeds.add("pack_check", "whole", b"\0" + pack)
    seeds.add("pack_check", "pieces-7", b"\6" + pack)
    # fuzz_index_pack: the same, and a pack of REF deltas
    seeds.add("index_pack", "ofs-whole", b"\0" + pack)
    seeds.add("index_pack", "ofs-pieces-13", b"\x0c" + pack)
    ids = subprocess.run(["git", "cat-file", "--batch-all-objects",
                          "--batch-check=%(objectname)"], cwd=tmp / "repo.git", check=True,
                         stdout=subprocess.PIPE).stdout
    ref = subprocess.run(["git", "pack-objects", "-q", "--stdout"], cwd=tmp / "repo.git",
                         input=ids, check=True, stdout=subprocess.PIPE).stdout
    seeds.add("index_pack", "ref-pieces-5", b"\x04" + ref)

    count = struct.unpack(">I", idx[8 + 1020:8 + 1024])[0]
    seeds.add("bitmap_index", "hash-cache",
              struct.pack(">I", count) + base.with_suffix(".bitmap").read_bytes())
    plain = tmp / "plain.git"
    git("clone", "-q", "--bare", str(tmp / "repo.git"), str(plain))
    git("-c", "pack.writeBitmapHashCache=false", "repack", "-q", "-a", "-d", "-b", cwd=plain)
    bitmap = next((plain / "objects" / "pack").glob("pack-*.bitmap"))
    plain_idx = bitmap.with_suffix(".idx").read_bytes()
    plain_count = struct.unpack(">I", plain_idx[8 + 1020:8 + 1024])[0]
    seeds.add("bitmap_index", "no-hash-cache", struct.pack(">I", plain_count) + bitmap.read_bytes())


def write_refname_seeds(seeds):
    """fuzz_refname: a flags byte (allow-onelevel 1, refspec-pattern 2),
    then a name; one for each of git's rules."""
    for name, data in (
            ("branch", b"\0heads/main"), ("onelevel", b"\1HEAD"),
            ("pattern", b"\2refs/heads/*"), ("lock", b"\0heads/x.lock"),
            ("dots", b"\0heads/a..b/.c."), ("at-brace", b"\0heads/a@{1}"),
            ("del", b"\0heads/a\x7fb"), ("slashes", b"\0heads//x/"),
            ("utf8", b"\3tags/\xc3\xa9t\xc3\xa9/v1.0")):
        seeds.add("refname", name, data)


def main():
    if len(sys.argv) != 1:
        sys.exit(__doc__)
    shutil.rmtree(CORPUS, ignore_errors=True)
    seeds = Seeds()
    with tempfile.TemporaryDirectory(prefix="gsh-corpus-") as t:
        tmp = Path(t)
        subprocess.run([str(HERE / "make_fixture.sh"), str(tmp)], check=True)
        record_requests(tmp, seeds)
        record_push_requests(tmp, seeds)
        record_pack_files(tmp, seeds)
    write_refname_seeds(seeds)
    for folder in sorted(CORPUS.iterdir()):
        files = list(folder.iterdir())
        print(f"{folder.name}: {len(files)} seeds, {sum(f.stat().st_size for f in files)} bytes")


if __name__ == "__main__":
    main()
