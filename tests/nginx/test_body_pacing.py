"""A large request body is read in fewer wakeups (the body file: SO_RCVLOWAT
while it is read, and a timer that reads what fewer bytes came). What the
client sees must not change: the whole body is read however it arrives (a
tail shorter than the low-water mark, pauses, chunked or not), the next
request on the connection is read as before, and client_body_timeout still
ends a client that stops sending.

Module-specific: how the module reads its body; the answers are checked
against what the repository holds.
"""

import os
import socket
import time

import pytest

import helpers
from helpers import Nginx

pytestmark = pytest.mark.skipif(
    os.environ.get("GSH_SELF_CHECK") == "1",
    reason="the module's own body reading")

BODY_TIMEOUT = 2


@pytest.fixture(scope="module")
def ngx(repos_root, tmp_path_factory):
    prefix = tmp_path_factory.mktemp("body-pacing")
    body = helpers.server_conf("""
        location /git/ {
            git_smart_http on;
            git_smart_http_root %s;
            client_max_body_size 10m;
            client_body_timeout %ds;
        }
""" % (repos_root, BODY_TIMEOUT)) + "    client_header_timeout 5s;\n"
    n = Nginx(prefix, body, module=helpers.module_path())
    n.start()
    yield n
    assert n.stop() == 0, n.read_error_log()[-3000:]


def big_fetch_body(git, repo, lines):
    """A v2 fetch of every ref whose want lines are repeated to make
    `lines` of them (a large body, the answer of a small one)."""
    refs = git("for-each-ref", "--format=%(objectname)", cwd=repo).split()
    wants = ["want " + refs[i % len(refs)] for i in range(lines)]
    return helpers.v2_request("fetch", wants + ["ofs-delta", "done"]), refs


def expected_objects(git, repo):
    return set(l.split()[0] for l in git(
        "rev-list", "--objects", "--all", cwd=repo).splitlines())


def read_response(sock):
    """One HTTP/1.1 response (chunked or with a length) from sock: (status
    line, headers dict, body)."""
    f = sock.makefile("rb")
    status = f.readline().decode()
    headers = {}
    while True:
        line = f.readline().decode()
        if line in ("\r\n", ""):
            break
        k, v = line.split(":", 1)
        headers[k.strip().lower()] = v.strip()
    body = b""
    if headers.get("transfer-encoding") == "chunked":
        while True:
            size = int(f.readline().split(b";")[0], 16)
            if size == 0:
                f.readline()
                break
            body += f.read(size)
            f.readline()
    elif "content-length" in headers:
        body = f.read(int(headers["content-length"]))
    return status, headers, body


def send_request(sock, path, body, chunked=False, pieces=1, pause=0.0,
                 keepalive=True):
    head = ["POST %s HTTP/1.1" % path, "Host: t",
            "Git-Protocol: version=2",
            "Content-Type: application/x-git-upload-pack-request"]
    head.append("Transfer-Encoding: chunked" if chunked
                else "Content-Length: %d" % len(body))
    if not keepalive:
        head.append("Connection: close")
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
    step = max(1, len(body) // pieces)
    for at in range(0, len(body), step):
        part = body[at:at + step]
        sock.sendall(b"%x\r\n%s\r\n" % (len(part), part) if chunked
                     else part)
        if pause:
            time.sleep(pause)
    if chunked:
        sock.sendall(b"0\r\n\r\n")


def check_answer(git, repo, body, tmp_path):
    items, rest = helpers.parse_pkt_lines(body, stop_at_pack=True)
    assert items[-1] == b"packfile\n", items[:5]
    pack, _, error = helpers.demux_sideband(helpers.parse_pkt_lines(rest))
    assert error == b""
    got = helpers.pack_object_ids(git, pack, tmp_path)
    assert set(got) == expected_objects(git, repo)


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("lines", [6000, 6001])
def test_large_body_then_next_request(git, repos_root, ngx, tmp_path,
                                      chunked, lines):
    """A body of a few hundred KB (its tail shorter than the low-water
    mark), sent in 37 pieces; then a second request on the same connection,
    which must be read at once (SO_RCVLOWAT is back to 1)."""
    repo = repos_root / "small.git"
    body, _ = big_fetch_body(git, repo, lines)
    assert len(body) > 4 * 65536
    with socket.create_connection(("127.0.0.1", ngx.port), timeout=30) as s:
        send_request(s, "/git/small.git/git-upload-pack", body, chunked,
                     pieces=37)
        status, _, answer = read_response(s)
        assert status.startswith("HTTP/1.1 200"), status
        check_answer(git, repo, answer, tmp_path)
        small = helpers.v2_request("ls-refs", [])
        send_request(s, "/git/small.git/git-upload-pack", small,
                     keepalive=False)
        status, _, answer = read_response(s)
        assert status.startswith("HTTP/1.1 200"), status
        assert b"refs/heads/main" in answer


def test_slow_client_body(git, repos_root, ngx, tmp_path):
    """Pieces of 2 KB with pauses: never 64 KB waiting at once, so every
    byte is read by the timer."""
    repo = repos_root / "small.git"
    body, _ = big_fetch_body(git, repo, 6000)
    with socket.create_connection(("127.0.0.1", ngx.port), timeout=30) as s:
        send_request(s, "/git/small.git/git-upload-pack", body, chunked=True,
                     pieces=len(body) // 2048, pause=0.001)
        status, _, answer = read_response(s)
        assert status.startswith("HTTP/1.1 200"), status
        check_answer(git, repo, answer, tmp_path)


def test_client_that_stops_sending_times_out(git, repos_root, ngx):
    """client_body_timeout still ends a body that stops coming (the timer's
    empty reads do not count as the client sending)."""
    repo = repos_root / "small.git"
    body, _ = big_fetch_body(git, repo, 6000)
    with socket.create_connection(("127.0.0.1", ngx.port), timeout=60) as s:
        head = ("POST /git/small.git/git-upload-pack HTTP/1.1\r\nHost: t\r\n"
                "Git-Protocol: version=2\r\nContent-Type: "
                "application/x-git-upload-pack-request\r\n"
                "Content-Length: %d\r\n\r\n" % len(body)).encode()
        s.sendall(head + body[:len(body) // 2])
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    # nginx closes a connection whose body timed out, with a 408 or nothing
    assert data == b"" or data.startswith(b"HTTP/1.1 408"), data[:200]
    helpers.wait_until(
        lambda: any(l.startswith("POST /git/small.git/git-upload-pack 408 ")
                    for l in ngx.access_log.read_text().splitlines()), 10,
        "the 408 in the access log")
