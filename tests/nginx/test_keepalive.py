"""Keepalives and progress while a fetch counts objects and plans its pack,
and git_smart_http_timeout during the count (issue 14, item 6).

Its own nginx, with the core's test-only hook GSH_TEST_PACK_STALL: a FIFO in
a repository holds the count of every pack of it until the test opens and
closes the FIFO for writing. git's upload-pack sends an empty side-band 1
pkt-line ("0005\\1") after uploadpack.keepAlive seconds without output; the
repositories here set it to 1 (ka.git) and 0 (ka0.git, none). A client sees
that it is stalled when "packfile" has come: what precedes the pack goes out
before the count starts.
"""

import os
import socket
import subprocess
import time

import pytest

import helpers
from helpers import FLUSH, Nginx, check_pack, demux_sideband, \
    parse_pkt_lines, pkt, v2_request

STALL_FIFO = "gsh-test-stall"
KEEPALIVE = b"\x01"  # the payload of "0005\1"
# how GIT_TRACE_PACKET shows a keepalive
KEEPALIVE_TRACE = rb"sideband< \1"

HTTP = """
    server {
        listen 127.0.0.1:{port};
        location / { return 404; }
        location /ka/ {
            git_smart_http on;
            git_smart_http_root {root};
        }
        location /kat/ {
            git_smart_http on;
            git_smart_http_root {root};
            git_smart_http_timeout 1s;
        }
    }
"""


@pytest.fixture(scope="module")
def ka(git, repos_root, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("keepalive")
    root = tmp / "root"
    root.mkdir()
    for name, seconds in (("ka", "1"), ("ka0", "0")):
        repo = root / (name + ".git")
        git("clone", "-q", "--bare", repos_root / "small.git", repo)
        git("config", "uploadpack.keepAlive", seconds, cwd=repo)
        (repo / "git-daemon-export-ok").touch()
        os.mkfifo(repo / STALL_FIFO)
    nginx = Nginx(tmp / "nginx", HTTP.replace("{root}", str(root)),
                  module=helpers.module_path(), worker_processes=1,
                  main_extra="env GSH_TEST_PACK_STALL;")
    nginx.extra_env["GSH_TEST_PACK_STALL"] = STALL_FIFO
    nginx.start()
    nginx.root = root
    nginx.tip = git("rev-parse", "main", cwd=root / "ka.git")
    nginx.objects = int(git("rev-list", "--objects", "--count", "main",
                            cwd=root / "ka.git"))
    yield nginx
    assert nginx.stop() == 0, nginx.read_error_log()[-5000:]


def wait_for_text(path, text, timeout=60):
    """Waits (bounded) until the file at path holds text."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_bytes():
            return
        time.sleep(0.02)
    raise AssertionError("%s never held %r" % (path, text))


def release(nginx, repo):
    """Lets the count waiting on repo's FIFO go on: the open meets the
    count's open for reading, the close gives it EOF."""
    fd = os.open(nginx.root / repo / STALL_FIFO, os.O_WRONLY)
    os.close(fd)


class RawFetch:
    """An upload-pack POST over HTTP/1.0 (the body ends at EOF), read pkt-line
    by pkt-line as it arrives."""

    def __init__(self, port, path, body, version=2):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        proto = b"Git-Protocol: version=2\r\n" if version == 2 else b""
        self.sock.sendall(
            b"POST %s HTTP/1.0\r\nHost: 127.0.0.1\r\n%s"
            b"Content-Type: application/x-git-upload-pack-request\r\n"
            b"Content-Length: %d\r\n\r\n" % (path.encode(), proto, len(body))
            + body)
        self.data = b""
        self.eof = False
        while b"\r\n\r\n" not in self.data:
            self._recv()
        self.head, _, self.data = self.data.partition(b"\r\n\r\n")
        assert self.head.startswith(b"HTTP/1.1 200"), self.head
        self.items = []

    def _recv(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            self.eof = True
            raise EOFError("the response ended")
        self.data += chunk

    def next_item(self):
        """The next pkt-line payload (or FLUSH, ...), waiting for it."""
        while (got := helpers.split_pkt(self.data)) is None:
            self._recv()
        item, self.data = got
        self.items.append(item)
        return item

    def until(self, wanted):
        while self.next_item() != wanted:
            pass

    def rest(self):
        """Every item to the end of the response."""
        try:
            while True:
                self._recv()
        except EOFError:
            pass
        self.sock.close()
        self.items += parse_pkt_lines(self.data)
        self.data = b""
        return self.items


def v2_fetch(tip, progress=True):
    args = ["ofs-delta", "want " + tip, "done"]
    if not progress:
        args.insert(0, "no-progress")
    return v2_request("fetch", args)


def v0_fetch(tip):
    return (pkt("want %s multi_ack_detailed side-band-64k ofs-delta "
                "agent=git/2.39.5\n" % tip) + b"0000" + pkt("done\n"))


def after(items, marker):
    return items[items.index(marker) + 1:]


def keepalives(items):
    return sum(1 for it in items if it == KEEPALIVE)


def test_v2_stalled_count_sends_keepalives_then_the_pack(ka):
    f = RawFetch(ka.port, "/ka/ka.git/git-upload-pack", v2_fetch(ka.tip))
    try:
        f.until(b"packfile\n")
        # stalled in the count: the keepalive comes before any pack byte
        assert f.next_item() == KEEPALIVE
    finally:
        release(ka, "ka.git")
    items = after(f.rest(), b"packfile\n")
    assert items[-1] == FLUSH
    pack, progress, err = demux_sideband(items)
    assert err == b""
    assert keepalives(items) >= 1
    n = ka.objects
    assert b"Enumerating objects: %d, done.\n" % n in progress, progress
    assert b"Counting objects: 100%% (%d/%d), done.\n" % (n, n) in progress
    assert check_pack(pack) == n


def test_v0_sideband_stalled_count_sends_keepalives_then_the_pack(ka):
    f = RawFetch(ka.port, "/ka/ka.git/git-upload-pack", v0_fetch(ka.tip),
                 version=0)
    try:
        f.until(b"NAK\n")
        assert f.next_item() == KEEPALIVE
    finally:
        release(ka, "ka.git")
    items = after(f.rest(), b"NAK\n")
    pack, progress, err = demux_sideband(items)
    assert err == b""
    assert keepalives(items) >= 1
    assert b"Enumerating objects: %d, done.\n" % ka.objects in progress
    assert check_pack(pack) == ka.objects


def test_keepalive_zero_and_no_progress_send_nothing_while_stalled(ka):
    """ka0.git (uploadpack.keepAlive 0, no-progress) stalls from before
    ka.git's count starts until after ka.git's first keepalive: as long as
    a keepalive takes with keepAlive 1, and it gets none."""
    quiet = RawFetch(ka.port, "/ka/ka0.git/git-upload-pack",
                     v2_fetch(ka.tip, progress=False))
    try:
        quiet.until(b"packfile\n")
        loud = RawFetch(ka.port, "/ka/ka.git/git-upload-pack",
                        v2_fetch(ka.tip, progress=False))
        try:
            loud.until(b"packfile\n")
            assert loud.next_item() == KEEPALIVE
        finally:
            release(ka, "ka.git")
        loud_items = after(loud.rest(), b"packfile\n")
    finally:
        release(ka, "ka0.git")
    items = after(quiet.rest(), b"packfile\n")
    pack, progress, err = demux_sideband(items)
    assert keepalives(items) == 0
    assert progress == b"" and err == b""
    assert check_pack(pack) == ka.objects
    assert keepalives(loud_items) >= 1
    assert demux_sideband(loud_items)[1] == b""


def test_git_clone_through_a_stalled_count(ka, git, tmp_path):
    """A real client: it sees keepalives (GIT_TRACE_PACKET shows each as an
    empty side-band 1 line), then gets its pack and a good repository."""
    trace = tmp_path / "trace"
    env = dict(git.env, GIT_TRACE_PACKET=str(trace))
    clone = subprocess.Popen(
        ["git", "-c", "protocol.version=2", "clone", "-q", "--bare",
         "http://127.0.0.1:%d/ka/ka.git" % ka.port, tmp_path / "c.git"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True)
    try:
        wait_for_text(trace, KEEPALIVE_TRACE)
    finally:
        release(ka, "ka.git")
    out, err = clone.communicate(timeout=120)
    assert clone.returncode == 0, err
    assert git("rev-parse", "main", cwd=tmp_path / "c.git") == ka.tip
    git("fsck", "--no-progress", cwd=tmp_path / "c.git")


def test_timeout_ends_a_stalled_count(ka):
    """git_smart_http_timeout 1s: the count stalls with nobody to release
    it, and the timeout ends it; the client gets side-band 3."""
    mark = ka.error_log_size()
    f = RawFetch(ka.port, "/kat/ka0.git/git-upload-pack", v2_fetch(ka.tip))
    items = after(f.rest(), b"packfile\n")
    pack, _, err = demux_sideband(items)
    assert err == b"pack generation made no progress within " \
                  b"git_smart_http_timeout\n"
    assert pack == b""
    log = ka.read_error_log(mark)
    assert "the pack made no progress for 1000 ms, ending it" in log, log
    assert "response aborted: pack generation made no progress" in log, log
