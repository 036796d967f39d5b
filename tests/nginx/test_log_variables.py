"""The $git_* log variables: an nginx of its own logs every one of them in a
log_format, and each scenario (clone, ls-remote, v0 fetch, shallow fetch,
filtered clone, refusals and errors) checks the lines its requests left.

Module-specific: nothing to compare with git http-backend here.
"""

import os
import socket

import pytest

import helpers
from helpers import Nginx
from prometheus import fetch_metrics, wait_for

pytestmark = pytest.mark.skipif(
    os.environ.get("GSH_SELF_CHECK") == "1",
    reason="the $git_* variables are the module's own")

FIELDS = ("method", "uri", "status", "repo", "service", "protocol",
          "command", "wants", "haves", "pack_objects", "pack_bytes", "depth",
          "filter", "git_status", "user")

# Fields separated by "|", which none of the values holds here.
LOG_FORMAT = "|".join((
    "$request_method", "$request_uri", "$status", "$git_repo",
    "$git_service", "$git_protocol", "$git_command", "$git_wants",
    "$git_haves", "$git_pack_objects", "$git_pack_bytes", "$git_depth",
    "$git_filter", "$git_status", "$remote_user"))

HTTP_BODY = """
    log_format gitvars '%s';
    client_max_body_size 100m;
    server {
        listen 127.0.0.1:{port};
        access_log {log} gitvars;
        location / { return 404; }
        location /git/ {
            git_smart_http on;
            git_smart_http_root {root};
        }
        location /big/ {
            git_smart_http on;
            git_smart_http_root {bigroot};
            git_smart_http_export_all on;
        }
        # a client that reads nothing is ended by send_timeout
        location /slow/ {
            git_smart_http on;
            git_smart_http_root {bigroot};
            git_smart_http_export_all on;
            send_timeout 1s;
        }
        location /tiny/ {
            git_smart_http on;
            git_smart_http_root {root};
            git_smart_http_max_request_size 1k;
        }
        location /tinybody/ {
            git_smart_http on;
            git_smart_http_root {root};
            client_max_body_size 1k;
        }
        # the module's 404 goes on to /gone, where no Git route is
        location /redirected/ {
            git_smart_http on;
            git_smart_http_root {root};
            error_page 404 /gone;
        }
        location = /gone { return 404 "gone\n"; }
        location = /metrics { access_log off; git_smart_http_metrics; }
    }
""" % LOG_FORMAT

ZERO_OID = "1" * 40


class LogServer:
    def __init__(self, nginx, log_path):
        self.nginx = nginx
        self.log_path = log_path
        self.port = nginx.port
        self.url = "http://127.0.0.1:%d/git" % self.port

    def mark(self):
        return helpers.serving.size_of(self.log_path)

    def lines_since(self, mark, count):
        """The first `count` log lines written after mark, as dicts. nginx
        writes a line once the response is out, which may be a moment
        after the client has read it: wait for them (bounded)."""
        lines = helpers.wait_log_lines(self.log_path, mark, count)
        return [dict(zip(FIELDS, l.split("|"))) for l in lines]


BIG_BLOB = 32 << 20


@pytest.fixture(scope="module")
def big_root(git, session_tmp):
    """BIGROOT/big.git: one commit with a random blob larger than what
    loopback socket buffers hold, so that its pack cannot be sent before
    the client hangs up."""
    root = session_tmp / "logvars-big"
    work = session_tmp / "logvars-big-work"
    git("init", "-q", "-b", "main", work)
    (work / "random.bin").write_bytes(os.urandom(BIG_BLOB))
    git("add", "random.bin", cwd=work)
    git("commit", "-q", "-m", "a large blob", cwd=work)
    git("clone", "-q", "--bare", work, root / "big.git")
    return root


@pytest.fixture(scope="module")
def corrupt_root(git, session_tmp):
    """BIGROOT/corrupt.git (next to big.git, served by /big/): a commit
    whose blob's loose object is gone. Counting needs only the commit and
    its tree, so the pack has begun when the blob cannot be read.
    (A loose object cut in the middle of its zlib stream would be the
    other case; libgit2 1.5 loops forever inflating one: see the report
    of issue 15.)"""
    work = session_tmp / "logvars-corrupt-work"
    git("init", "-q", "-b", "main", work)
    (work / "data.bin").write_bytes(os.urandom(1 << 20))
    git("add", "data.bin", cwd=work)
    git("commit", "-q", "-m", "a blob to corrupt", cwd=work)
    repo = session_tmp / "logvars-big" / "corrupt.git"
    git("clone", "-q", "--bare", "--no-local", work, repo)
    packs = list((repo / "objects" / "pack").glob("*.pack"))
    data = b"".join(p.read_bytes() for p in packs)
    for p in (repo / "objects" / "pack").iterdir():
        p.unlink()
    git("unpack-objects", "-q", input=data, cwd=repo, text=False)
    blob = git("rev-parse", "main:data.bin", cwd=repo)
    loose = repo / "objects" / blob[:2] / blob[2:]
    loose.unlink()
    return repo


@pytest.fixture(scope="module")
def logsrv(repos_root, big_root, session_tmp):
    prefix = session_tmp / "nginx-logvars"
    log_path = prefix / "logs" / "git.log"
    body = HTTP_BODY.replace("{root}", str(repos_root)) \
        .replace("{bigroot}", str(big_root)) \
        .replace("{log}", str(log_path))
    nginx = Nginx(prefix, body, module=helpers.module_path())
    nginx.start()
    # the listening socket is inherited: this waits in the backlog
    assert nginx.http("GET", "/nowhere").status == 404
    srv = LogServer(nginx, log_path)
    # its log line may come a moment after the response: the tests' marks
    # must be taken after it
    srv.lines_since(0, 1)
    yield srv
    assert nginx.stop() == 0


def by_command(lines):
    return {l["command"]: l for l in lines}


def test_clone_v2(git, logsrv, tmp_path):
    mark = logsrv.mark()
    trace = tmp_path / "packet-trace"
    result, r, pack = helpers.clone(git, logsrv.url + "/small.git",
                                    tmp_path / "c",
                                    env={"GIT_TRACE_PACKET": str(trace)})
    assert result["code"] == 0, r.err
    lines = logsrv.lines_since(mark, 3)
    assert [l["command"] for l in lines] == ["advertise", "ls-refs", "fetch"]
    for l in lines:
        assert l["repo"] == "small.git"
        assert l["service"] == "git-upload-pack"
        assert l["protocol"] == "2"
        assert l["status"] == "200"
        assert l["git_status"] == "ok"
        assert l["depth"] == "-" and l["filter"] == "-"
        assert l["user"] == "-"
    advert, ls, fetch = lines
    for l in (advert, ls):
        assert (l["wants"], l["haves"]) == ("-", "-")
        assert (l["pack_objects"], l["pack_bytes"]) == ("-", "-")
    # the want lines git sent, repeats included
    sent = [l for l in trace.read_text().splitlines() if "> want " in l]
    assert sent and int(fetch["wants"]) == len(sent)
    assert fetch["haves"] == "0"
    # the pack the client received, as GIT_TRACE_PACKFILE saw it
    assert int(fetch["pack_objects"]) == helpers.check_pack(pack, thin=True)
    assert int(fetch["pack_bytes"]) == len(pack)


def test_ls_remote(git, logsrv):
    mark = logsrv.mark()
    r = git.run("ls-remote", logsrv.url + "/small.git")
    assert r.code == 0, r.err
    advert, ls = logsrv.lines_since(mark, 2)
    assert advert["command"] == "advertise"
    assert ls["command"] == "ls-refs"
    assert ls["method"] == "POST"
    assert ls["git_status"] == "ok"
    assert ls["wants"] == "-" and ls["pack_objects"] == "-"


def test_fetch_v0_with_haves(git, logsrv, tmp_path):
    repo = tmp_path / "r"
    git("init", "-q", "--bare", repo)
    url = logsrv.url + "/small.git"
    git("fetch", "-q", url, "refs/tags/v0.1:refs/tags/v0.1", cwd=repo,
        protocol=0)
    mark = logsrv.mark()
    trace = tmp_path / "packet-trace"
    result, r, pack = helpers.fetch(git, repo, url,
                                    "refs/heads/main:refs/heads/main",
                                    env={"GIT_TRACE_PACKET": str(trace)},
                                    protocol=0)
    assert result["code"] == 0, r.err
    advert, fetch = logsrv.lines_since(mark, 2)
    for l in (advert, fetch):
        assert l["protocol"] == "0"
        assert l["service"] == "git-upload-pack"
        assert l["git_status"] == "ok"
    assert advert["command"] == "advertise"
    assert fetch["command"] == "fetch"
    # git's want and have lines, as GIT_TRACE_PACKET shows them sent
    lines = trace.read_text().splitlines()
    assert int(fetch["wants"]) == sum("> want " in l for l in lines)
    assert int(fetch["haves"]) == sum("> have " in l for l in lines)
    assert int(fetch["haves"]) >= 1
    assert int(fetch["pack_objects"]) == helpers.check_pack(pack, thin=True)
    assert int(fetch["pack_bytes"]) == len(pack)


def test_shallow_fetch(git, logsrv, tmp_path):
    mark = logsrv.mark()
    result, r, _ = helpers.clone(git, logsrv.url + "/small.git",
                                 tmp_path / "s", "--bare", "--depth", "3")
    assert result["code"] == 0, r.err
    fetch = by_command(logsrv.lines_since(mark, 3))["fetch"]
    assert fetch["depth"] == "3"
    assert fetch["git_status"] == "ok"
    # --unshallow asks for "infinite" depth, as git writes it
    mark = logsrv.mark()
    r = git.run("fetch", "-q", "--unshallow", logsrv.url + "/small.git",
                cwd=tmp_path / "s")
    assert r.code == 0, r.err
    fetch = by_command(logsrv.lines_since(mark, 3))["fetch"]
    assert fetch["depth"] == "2147483647"
    assert int(fetch["haves"]) >= 1


def test_filtered_clone(git, logsrv, tmp_path):
    mark = logsrv.mark()
    trace = tmp_path / "packet-trace"
    # git.run, not helpers.clone: its checks of the result would fetch the
    # missing blobs lazily, each a fetch of its own
    r = git.run("clone", "-q", "--bare", "--filter=blob:limit=1k",
                logsrv.url + "/filter.git", tmp_path / "f",
                env={"GIT_TRACE_PACKET": str(trace)})
    assert r.code == 0, r.err
    fetch = logsrv.lines_since(mark, 3)[2]
    assert fetch["command"] == "fetch"
    # git sends the spec normalised (1k -> 1024); the log has what it sent
    sent = [l.split("> filter ", 1)[1].strip()
            for l in trace.read_text().splitlines() if "> filter " in l]
    assert sent == ["blob:limit=1024"]
    assert fetch["filter"] == "blob:limit=1024"
    assert fetch["repo"] == "filter.git"
    assert fetch["depth"] == "-"
    assert int(fetch["pack_objects"]) > 0


def test_not_found(logsrv):
    mark = logsrv.mark()
    resp = logsrv.nginx.http(
        "GET", "/git/group/nope.git/info/refs?service=git-upload-pack",
        headers={"Git-Protocol": "version=2"})
    assert resp.status == 404
    resp = logsrv.nginx.http("GET", "/git/small.git/no/such/route")
    assert resp.status == 404
    missing, noroute = logsrv.lines_since(mark, 2)
    assert missing["repo"] == "group/nope.git"
    assert missing["service"] == "git-upload-pack"
    assert missing["protocol"] == "2"
    assert missing["command"] == "advertise"
    assert missing["git_status"] == "not_found"
    assert missing["pack_objects"] == "-"
    # not a Git request at all: only the status is known
    assert noroute["repo"] == "-" and noroute["service"] == "-"
    assert noroute["command"] == "-"
    assert noroute["git_status"] == "not_found"


def test_bad_request(logsrv):
    mark = logsrv.mark()
    body = helpers.v2_request("fetch", ["want not-an-oid",
                                        "want " + ZERO_OID, "done"])
    resp = logsrv.nginx.http(
        "POST", "/git/small.git/git-upload-pack",
        headers={"Git-Protocol": "version=2",
                 "Content-Type": "application/x-git-upload-pack-request"},
        body=body)
    assert resp.status == 400
    (line,) = logsrv.lines_since(mark, 1)
    assert line["status"] == "400"
    assert line["git_status"] == "bad_request"
    assert line["command"] == "fetch"
    assert line["wants"] == "2"  # as sent, the bad one too
    assert line["haves"] == "0"
    assert line["pack_objects"] == "-"


def test_refusal_is_a_200_that_says_refused(logsrv):
    mark = logsrv.mark()
    body = helpers.v2_request("fetch", ["want " + ZERO_OID, "done"])
    resp = logsrv.nginx.http(
        "POST", "/git/small.git/git-upload-pack",
        headers={"Git-Protocol": "version=2",
                 "Content-Type": "application/x-git-upload-pack-request"},
        body=body)
    assert resp.status == 200
    assert b"ERR upload-pack: not our ref" in resp.body
    (line,) = logsrv.lines_since(mark, 1)
    assert line["git_status"] == "refused"
    assert line["wants"] == "1"
    assert line["pack_objects"] == "-"


def test_other_refusals(logsrv):
    mark = logsrv.mark()
    assert logsrv.nginx.http(
        "GET", "/git/small.git/info/refs?service=git-receive-pack"
    ).status == 403
    assert logsrv.nginx.http(
        "POST", "/git/small.git/git-upload-pack",
        headers={"Content-Type": "text/plain"}, body=b"0000").status == 415
    assert logsrv.nginx.http(
        "PUT", "/git/small.git/git-upload-pack", body=b"").status == 405
    push, media, method = logsrv.lines_since(mark, 3)
    assert (push["service"], push["git_status"]) == ("git-receive-pack",
                                                     "forbidden")
    assert push["protocol"] == "0"
    assert media["git_status"] == "unsupported_media_type"
    assert media["command"] == "-"  # refused before the body was read
    assert method["git_status"] == "method_not_allowed"
    assert method["repo"] == "small.git"


def test_head_advert_is_ok(logsrv):
    mark = logsrv.mark()
    resp = logsrv.nginx.http(
        "HEAD", "/git/small.git/info/refs?service=git-upload-pack")
    assert resp.status == 200
    (line,) = logsrv.lines_since(mark, 1)
    assert line["git_status"] == "ok"
    assert line["command"] == "advertise"


def test_client_closed_during_the_pack(git, logsrv, big_root):
    oid = git("rev-parse", "main", cwd=big_root / "big.git")
    body = helpers.v2_request("fetch", ["want " + oid, "no-progress",
                                        "done"])
    mark = logsrv.mark()
    s = socket.create_connection(("127.0.0.1", logsrv.port), timeout=60)
    try:
        s.sendall(b"POST /big/big.git/git-upload-pack HTTP/1.1\r\n"
                  b"Host: 127.0.0.1\r\nGit-Protocol: version=2\r\n"
                  b"Content-Type: application/x-git-upload-pack-request\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body) + body)
        got = b""
        while b"packfile" not in got:
            chunk = s.recv(65536)
            assert chunk, "connection closed early: %r" % got[:300]
            got += chunk
        assert got.startswith(b"HTTP/1.1 200 ")
    finally:
        # unread data in the socket: the kernel resets the connection
        s.close()
    (line,) = logsrv.lines_since(mark, 1)
    assert line["git_status"] == "client_closed", line
    assert line["repo"] == "big.git" and line["command"] == "fetch"
    assert line["pack_objects"] != "-"
    assert 0 <= int(line["pack_bytes"]) < BIG_BLOB


def metrics(logsrv):
    return fetch_metrics(logsrv.port)


def test_too_large(logsrv):
    """413 from git_smart_http_max_request_size, and from
    client_max_body_size on a chunked body (the module reads it). A
    Content-Length over client_max_body_size is refused by nginx before
    any handler runs: no variable is known then."""
    body = helpers.v2_request("ls-refs", ["ref-prefix x" * 200])
    assert len(body) > 1024
    rpc = {"Git-Protocol": "version=2",
           "Content-Type": "application/x-git-upload-pack-request"}
    mark = logsrv.mark()
    assert logsrv.nginx.http("POST", "/tiny/small.git/git-upload-pack",
                             headers=rpc, body=body).status == 413
    s = socket.create_connection(("127.0.0.1", logsrv.port), timeout=60)
    try:
        s.sendall(b"POST /tinybody/small.git/git-upload-pack HTTP/1.1\r\n"
                  b"Host: 127.0.0.1\r\nGit-Protocol: version=2\r\n"
                  b"Content-Type: application/x-git-upload-pack-request\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n"
                  + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 413 ")
    finally:
        s.close()
    assert logsrv.nginx.http("POST", "/tinybody/small.git/git-upload-pack",
                             headers=rpc, body=body).status == 413
    # A refused body is drained before the line is written: the lines may
    # come in another order than the requests.
    lines = logsrv.lines_since(mark, 3)
    assert all(line["status"] == "413" for line in lines), lines
    by_module = [l for l in lines if l["git_status"] != "-"]
    by_nginx = [l for l in lines if l["git_status"] == "-"]
    assert sorted(l["uri"].split("/")[1] for l in by_module) == \
        ["tiny", "tinybody"], lines
    for line in by_module:
        assert line["git_status"] == "too_large", line
        assert line["repo"] == "small.git" and line["command"] == "-"
    assert len(by_nginx) == 1 and by_nginx[0]["repo"] == "-", lines
    assert by_nginx[0]["uri"].startswith("/tinybody/"), lines


def test_send_timeout(git, logsrv, big_root):
    """A client that reads nothing of a 32 MB pack: nginx's send_timeout
    (1 s here) ends the response; $git_status says timeout, and the
    metrics count a send_timeout error."""
    oid = git("rev-parse", "main", cwd=big_root / "big.git")
    body = helpers.v2_request("fetch", ["want " + oid, "no-progress",
                                        "done"])
    before = metrics(logsrv).get("git_smart_http_errors_total",
                                 kind="send_timeout")
    mark = logsrv.mark()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(60)
    s.connect(("127.0.0.1", logsrv.port))
    try:
        s.sendall(b"POST /slow/big.git/git-upload-pack HTTP/1.1\r\n"
                  b"Host: 127.0.0.1\r\nGit-Protocol: version=2\r\n"
                  b"Content-Type: application/x-git-upload-pack-request\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body) + body)
        # read nothing until nginx has given up on this client
        (line,) = logsrv.lines_since(mark, 1)
    finally:
        s.close()
    assert line["git_status"] == "timeout", line
    assert line["command"] == "fetch" and line["repo"] == "big.git"
    assert 0 <= int(line["pack_bytes"]) < BIG_BLOB
    wait_for(logsrv.port, lambda m: m.get("git_smart_http_errors_total",
                                          kind="send_timeout") == before + 1,
             "the send_timeout counted")


def test_pack_that_cannot_be_completed_is_aborted(git, logsrv, corrupt_root):
    """An object that vanished, found once the pack has begun: side-band 3,
    the connection closed, $git_status aborted, errors_total{pack_failed}."""
    oid = git("rev-parse", "main", cwd=corrupt_root)
    body = helpers.v2_request("fetch", ["want " + oid, "no-progress",
                                        "done"])
    before = metrics(logsrv).get("git_smart_http_errors_total",
                                 kind="pack_failed")
    mark = logsrv.mark()
    resp = logsrv.nginx.http(
        "POST", "/big/corrupt.git/git-upload-pack",
        headers={"Git-Protocol": "version=2",
                 "Content-Type": "application/x-git-upload-pack-request"},
        body=body)
    assert resp.status == 200
    items = helpers.parse_pkt_lines(resp.body)
    _, _, err = helpers.demux_sideband(items[items.index(b"packfile\n")
                                             + 1:])
    assert err, "no side-band 3 message"
    (line,) = logsrv.lines_since(mark, 1)
    assert line["git_status"] == "aborted", line
    wait_for(logsrv.port, lambda m: m.get("git_smart_http_errors_total",
                                          kind="pack_failed") == before + 1,
             "the failed pack counted")


def test_variables_are_empty_after_an_error_page_redirect(logsrv):
    mark = logsrv.mark()
    resp = logsrv.nginx.http(
        "GET", "/redirected/nope.git/info/refs?service=git-upload-pack",
        headers={"Git-Protocol": "version=2"})
    assert resp.status == 404 and resp.body == b"gone\n"
    (line,) = logsrv.lines_since(mark, 1)
    assert line["uri"].startswith("/redirected/nope.git/")
    for field in ("repo", "service", "protocol", "command", "git_status"):
        assert line[field] == "-", (field, line)
