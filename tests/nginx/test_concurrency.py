"""Several clients at once, and clients that go away in the middle of a
response: every clone still gets the right result, and nginx keeps serving
(a worker crash or sanitizer report in error.log fails the test through the
log watch in conftest)."""

import socket
from concurrent.futures import ThreadPoolExecutor

from helpers import clone, v2_request

CLIENTS = 8


def test_parallel_clones(git, server, tmp_path):
    expected, r, _ = clone(git, server.ref_url + "/small.git",
                           tmp_path / "reference", "--bare")
    assert expected["code"] == 0, r.err

    def one(i):
        return clone(git, server.module_url + "/small.git",
                     tmp_path / ("module-%d" % i), "--bare")

    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(one, range(CLIENTS)))
    for i, (cmp, r, _) in enumerate(results):
        assert cmp == expected, (i, r.err)


def test_client_disconnects_mid_pack(git, server, corpus):
    """A client asks for the whole corpus, reads a little of the pack and
    closes the connection. Then the server still answers."""
    tip = git("rev-parse", "HEAD", cwd=corpus)
    body = v2_request("fetch", ["ofs-delta", "no-progress", "want " + tip,
                                "done"])
    for _ in range(3):
        s = socket.create_connection(("127.0.0.1", server.port), timeout=120)
        try:
            s.sendall(b"POST /git/nginx.git/git-upload-pack HTTP/1.1\r\n"
                      b"Host: 127.0.0.1\r\n"
                      b"Git-Protocol: version=2\r\n"
                      b"Content-Type: application/x-git-upload-pack-request\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(body) + body)
            got = b""
            while len(got) < 64 * 1024:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
            assert got.startswith(b"HTTP/1.1 200"), got[:200]
        finally:
            s.close()
    resp = server.http("POST", "/git/small.git/git-upload-pack",
                       {"Git-Protocol": "version=2", "Content-Type":
                        "application/x-git-upload-pack-request"},
                       v2_request("ls-refs"))
    assert resp.status == 200
    assert b"refs/heads/main" in resp.body
    assert resp.body.endswith(b"0000")
