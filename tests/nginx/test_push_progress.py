"""A push's progress, hook output and keepalives reach the client while the
push goes on (issue 17, "Live progress"), as git's receive-pack relays
index-pack's and the hooks' stderr as they come.

The reference is git's receive-pack itself: `git push` to the repository's
path, and `git receive-pack --stateless-rpc` fed the same request body as
git http-backend runs it. git http-backend behind fcgiwrap, as the other
tests serve it, delivers nothing of a push's response (not even its
headers) before the push ends, so it cannot show what git streams.

Each scenario holds the push in its pre-receive hook, which waits on a FIFO
in the repository until the test opens and closes it for writing: what the
client has got by then came while the push was running. No clocks: the
test waits on the data.

  /git/  the module, receive-pack and hooks on (anonymous pushes: the
         repositories set http.receivepack)
"""

import os
import re
import select
import socket
import subprocess
from pathlib import Path

import pytest

import helpers
from helpers import FLUSH, Nginx, parse_pkt_lines, pkt, pkt_flush

HTTP = """
    client_max_body_size 100m;""" + helpers.server_conf("""\
        location /git/ {
            git_smart_http on;
            git_smart_http_root {root};
            git_smart_http_receive_pack on;
            git_smart_http_hooks on;
        }
""")

SIDES = ("module", "reference")
FIFO = "hold-pre-receive"
KEEPALIVE = b"\x01"  # the payload of "0005\1"
# Waiting on data, bounded only so that a broken server fails the test.
WAIT = 60


@pytest.fixture(scope="module")
def live(git, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("push-progress")
    root = tmp / "root"
    root.mkdir()
    nginx = Nginx(tmp / "nginx", HTTP.replace("{root}", str(root)),
                  module=helpers.module_path(), worker_processes=1)
    nginx.start()
    nginx.root = root
    nginx.tmp = tmp
    yield nginx
    assert nginx.stop() == 0, nginx.read_error_log()[-5000:]


def new_repo(git, live, name, config=()):
    """A bare repository that takes pushes, through index-pack for every
    pack (receive.unpackLimit 1) as the module."""
    repo = live.root / ("%s.git" % name)
    git("init", "-q", "--bare", "-b", "main", repo)
    for key, value in (("http.receivepack", "true"),
                       ("receive.unpackLimit", "1")) + tuple(config):
        git("config", key, value, cwd=repo)
    (repo / "git-daemon-export-ok").write_text("")
    return repo


def hold(repo):
    """repo's pre-receive hook prints a line, then waits for the test to
    open and close its FIFO."""
    os.mkfifo(repo / FIFO)
    hook = repo / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\n"
                    "cat >/dev/null\n"
                    "echo 'pre-receive: holding the push'\n"
                    "cat '%s' >/dev/null\n" % (repo / FIFO))
    hook.chmod(0o755)


def release(repo):
    """Lets the hook waiting on repo's FIFO end: the open meets its open
    for reading, the close gives it EOF."""
    os.close(os.open(repo / FIFO, os.O_WRONLY))


def client_with_deltas(git, live, name, repo):
    """A clone of repo with three more commits of a file large enough for
    pack-objects to deltify; returns (work tree, its tip)."""
    work = live.tmp / ("work-" + name)
    git("init", "-q", "-b", "main", work)
    lines = "".join("line %d of a file that deltifies\n" % i
                    for i in range(3000))
    (work / "big.txt").write_text(lines)
    git("add", "big.txt", cwd=work)
    git("commit", "-q", "-m", "base", cwd=work)
    git("push", "-q", repo, "main", cwd=work)
    for i in range(3):
        git.tick()
        lines += "and line %d more\n" % i
        (work / "big.txt").write_text(lines)
        git("commit", "-q", "-am", "more %d" % i, cwd=work)
    return work, git("rev-parse", "HEAD", cwd=work)


def read_until(fd, wanted, proc=None):
    """Reads fd as it comes until every bytes of wanted is in what was
    read; fails at EOF or when nothing comes for WAIT seconds."""
    got = b""
    while not all(w in got for w in wanted):
        ready, _, _ = select.select([fd], [], [], WAIT)
        assert ready, "nothing more came: %r" % got
        chunk = os.read(fd, 65536)
        assert chunk, "the push ended first: %r" % got
        got += chunk
    return got


@pytest.mark.parametrize("side", SIDES)
def test_progress_and_hook_output_arrive_while_the_push_runs(git, live, side):
    repo = new_repo(git, live, "progress-" + side)
    work, tip = client_with_deltas(git, live, side, repo)
    hold(repo)
    url = "http://127.0.0.1:%d/git/%s" % (live.port, repo.name) \
        if side == "module" else str(repo)
    env = dict(git.env, LANG="C", LC_ALL="C")
    proc = subprocess.Popen(
        ["git", "push", "--progress", url, "main"], cwd=work, env=env,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, start_new_session=True)
    released = False
    try:
        wanted = [b"remote: pre-receive: holding the push",
                  b"Resolving deltas: 100%"]
        if side == "module":
            wanted.append(b"Receiving objects: 100%")
        seen = read_until(proc.stderr.fileno(), wanted)
        # all of it while the push is held in its hook
        assert proc.poll() is None, seen
        release(repo)
        released = True
        rest = proc.stderr.read()
        assert proc.wait(timeout=WAIT) == 0, seen + rest
    finally:
        if not released:
            release(repo)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stderr.close()
    assert git("rev-parse", "main", cwd=repo) == tip
    text = (seen + rest).decode()
    # done, or a thin pack's "completed with 1 local object."
    assert re.search(r"Resolving deltas: 100% \((\d+)/\1\), "
                     r"(done|completed with \d+ local objects?)\.", text), text
    if side == "module":
        # git's progress.c line, its throughput in the last one
        assert re.search(r"Receiving objects: 100% \(9/9\), [0-9.]+ "
                         r"(bytes|KiB|MiB) \| [0-9.]+ (bytes|KiB|MiB)/s, "
                         r"done\.", text), text


class PktStream:
    """A receive-pack response read pkt-line by pkt-line as it arrives from
    recv (bytes; b"" at the end)."""

    def __init__(self, recv, data=b""):
        self.recv = recv
        self.data = data

    def _more(self):
        chunk = self.recv()
        if not chunk:
            raise EOFError("the response ended: %r" % self.data)
        self.data += chunk

    def next_item(self):
        while (got := helpers.split_pkt(self.data)) is None:
            self._more()
        item, self.data = got
        return item

    def rest(self):
        items = []
        while True:
            item = self.next_item()
            items.append(item)
            if item == FLUSH:
                return items


def module_push(live, repo, body):
    """A receive-pack POST to the module over HTTP/1.0: (its response as a
    PktStream, what to close after)."""
    sock = socket.create_connection(("127.0.0.1", live.port), timeout=WAIT)
    sock.sendall(
        b"POST /git/%s/git-receive-pack HTTP/1.0\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/x-git-receive-pack-request\r\n"
        b"Content-Length: %d\r\n\r\n" % (repo.name.encode(), len(body))
        + body)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    head, _, data = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    return PktStream(lambda: sock.recv(65536), data), sock.close


def gits_push(git, repo, body):
    """The same body fed to `git receive-pack --stateless-rpc`, as git
    http-backend runs it."""
    proc = subprocess.Popen(
        ["git", "receive-pack", "--stateless-rpc", str(repo)],
        env=git.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, start_new_session=True)
    proc.stdin.write(body)
    proc.stdin.close()
    fd = proc.stdout.fileno()

    def recv():
        ready, _, _ = select.select([fd], [], [], WAIT)
        assert ready, "nothing came"
        return os.read(fd, 65536)

    def close():
        proc.stdout.close()
        proc.wait(timeout=WAIT)
    return PktStream(recv), close


@pytest.mark.parametrize("side", SIDES)
def test_keepalives_while_a_hook_holds_the_push(git, live, side):
    """receive.keepAlive 1: while pre-receive is silent, empty side-band 1
    pkt-lines come, before the report."""
    repo = new_repo(git, live, "keepalive-" + side,
                    [("receive.keepAlive", "1")])
    work, tip = client_with_deltas(git, live, "ka-" + side, repo)
    hold(repo)
    old = git("rev-parse", "main", cwd=repo)
    pack = helpers.run_in_group(
        ["git", "pack-objects", "--stdout", "-q", "--revs"], git.env,
        cwd=work, input=("%s\n^%s\n" % (tip, old)).encode())[1]
    body = pkt("%s %s refs/heads/main\0report-status side-band-64k quiet "
               "agent=git/test\n" % (old, tip)) + pkt_flush() + pack
    push, close = module_push(live, repo, body) if side == "module" \
        else gits_push(git, repo, body)
    released = False
    try:
        before = []
        spoke = b"\x02pre-receive: holding the push\n"
        while KEEPALIVE not in before or spoke not in before:
            before.append(push.next_item())
        # the hook has spoken and is held: nothing of the report yet
        assert not any(isinstance(i, bytes) and i.startswith(b"\x01")
                       and i != KEEPALIVE for i in before), before
        release(repo)
        released = True
        after = push.rest()
    finally:
        if not released:
            release(repo)
        close()
    band1 = b"".join(i[1:] for i in after if isinstance(i, bytes)
                     and i.startswith(b"\x01"))
    assert parse_pkt_lines(band1) == [b"unpack ok\n",
                                      b"ok refs/heads/main\n", FLUSH]
    assert git("rev-parse", "main", cwd=repo) == tip
