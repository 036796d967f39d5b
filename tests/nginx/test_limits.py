"""Request limits: nginx's client_max_body_size, the module's
git_smart_http_max_request_size (after gzip inflation), max_wants and
max_haves, and the repository's http.uploadpack."""

import gzip
import subprocess

import pytest

from helpers import gzip_bytes, parse_pkt_lines, pkt, pkt_flush, v2_request

RPC = {"Git-Protocol": "version=2",
       "Content-Type": "application/x-git-upload-pack-request"}
RPC_V0 = {"Content-Type": "application/x-git-upload-pack-request"}


def tips(git, server, count):
    out = git("for-each-ref", "--format=%(objectname)", "refs/heads/",
              cwd=server.root / "small.git")
    oids = sorted(set(out.split()))
    assert len(oids) >= count
    return oids[:count]


def commits(git, server, count):
    out = git("rev-list", "--all", cwd=server.root / "small.git")
    oids = out.split()
    assert len(oids) >= count
    return oids[:count]


def err_line(body):
    items = parse_pkt_lines(body)
    assert items and isinstance(items[0], bytes), body[:200]
    return items[0]


def test_client_max_body_size_gives_413(server):
    body = v2_request("ls-refs", ["ref-prefix refs/%s" % ("x" * 60000)] * 2)
    assert len(body) > 64 * 1024
    res = server.http("POST", "/gitlim/small.git/git-upload-pack", RPC, body)
    assert res.status == 413


def test_request_size_counts_after_inflation(server):
    plain = v2_request("ls-refs", ["ref-prefix refs/heads/%s" % ("y" * 2000)] * 3)
    assert len(plain) > 4096
    res = server.http("POST", "/gitlim/small.git/git-upload-pack",
                      dict(RPC, **{"Content-Encoding": "gzip"}), gzip_bytes(plain))
    assert res.status == 413
    # the same body sent as it is (parsed on a thread, a fetch, where the
    # body is read as the parse goes) is as large
    fetch = v2_request("fetch", ["no-progress"] * 400 + ["done"])
    assert 4096 < len(fetch) < 16 * 1024
    res = server.http("POST", "/gitlim/small.git/git-upload-pack", RPC, fetch)
    assert res.status == 413
    small = v2_request("ls-refs", ["ref-prefix refs/heads/"])
    res = server.http("POST", "/gitlim/small.git/git-upload-pack",
                      dict(RPC, **{"Content-Encoding": "gzip"}), gzip_bytes(small))
    assert res.status == 200
    assert b"refs/heads/main" in res.body


def test_gzip_bomb_stops_at_the_limit(server):
    # A request that goes on: 16 MiB of arguments once inflated.
    request = v2_request("fetch", [])[:-4] + pkt("include-tag\n") * ((16 << 20) // 16)
    bomb = gzip.compress(request, compresslevel=9)
    assert len(bomb) < 64 * 1024
    res = server.http("POST", "/gitlim/small.git/git-upload-pack",
                      dict(RPC, **{"Content-Encoding": "gzip"}), bomb)
    assert res.status == 413
    # nginx keeps serving
    assert server.http("GET", "/gitlim/small.git/info/refs?service=git-upload-pack",
                       {"Git-Protocol": "version=2"}).status == 200


def test_too_many_wants_is_a_protocol_error(git, server):
    wants = ["want " + o for o in tips(git, server, 3)]
    res = server.http("POST", "/gitlim/small.git/git-upload-pack", RPC,
                      v2_request("fetch", wants + ["done"]))
    assert res.status == 200
    assert err_line(res.body) == b"ERR upload-pack: too many wants (the limit is 2)"
    res = server.http("POST", "/gitlim/small.git/git-upload-pack", RPC,
                      v2_request("fetch", wants[:2] + ["no-progress", "done"]))
    assert res.status == 200
    assert b"packfile\n" in res.body


def test_too_many_haves_is_a_protocol_error(git, server):
    want = "want " + tips(git, server, 1)[0]
    haves = ["have " + o for o in commits(git, server, 4)]
    res = server.http("POST", "/gitlim/small.git/git-upload-pack", RPC,
                      v2_request("fetch", [want] + haves))
    assert err_line(res.body) == b"ERR upload-pack: too many haves (the limit is 3)"
    # v0: the haves are counted as they come
    body = pkt("%s multi_ack_detailed side-band-64k ofs-delta\n" % want) + pkt_flush()
    body += b"".join(pkt(h + "\n") for h in haves) + pkt("done\n")
    res = server.http("POST", "/gitlim/small.git/git-upload-pack", RPC_V0, body)
    assert res.status == 200
    assert res.body.endswith(b"ERR upload-pack: too many haves (the limit is 3)")


def test_zero_means_no_limit(git, server):
    """git_smart_http_max_wants 0 and max_haves 0: any number (here more
    than /gitlim/ takes), not none."""
    wants = ["want " + o for o in tips(git, server, 3)]
    haves = ["have " + o for o in commits(git, server, 4)]
    res = server.http("POST", "/gitnolim/small.git/git-upload-pack", RPC,
                      v2_request("fetch", wants + haves
                                 + ["no-progress", "done"]))
    assert res.status == 200
    assert b"ERR" not in res.body[:200]
    assert b"packfile\n" in res.body


# Past a limit the request is not read on: what follows the want or have
# that crosses it (here a malformed line, then a cut pkt-line, which would
# be a 400 if read) does not matter.
CUT = pkt("bogus line\n") + b"00ff-cut-short"


def test_v0_reading_stops_at_the_want_limit(git, server):
    wants = tips(git, server, 3)
    body = pkt("want %s multi_ack_detailed side-band-64k ofs-delta\n"
               % wants[0]) + b"".join(pkt("want %s\n" % w)
                                      for w in wants[1:]) + CUT
    res = server.http("POST", "/gitlim/small.git/git-upload-pack", RPC_V0,
                      body)
    assert res.status == 200, res
    assert err_line(res.body) == \
        b"ERR upload-pack: too many wants (the limit is 2)"
    # the same tail within the limit is read, and refused
    body = pkt("want %s ofs-delta\n" % wants[0]) + CUT
    res = server.http("POST", "/gitlim/small.git/git-upload-pack", RPC_V0,
                      body)
    assert res.status == 400


def test_v2_reading_stops_at_the_want_and_have_limits(git, server):
    wants = ["want " + o for o in tips(git, server, 3)]
    res = server.http("POST", "/gitlim/small.git/git-upload-pack", RPC,
                      v2_request("fetch", wants + ["want nothex", "done"]))
    assert res.status == 200, res
    assert err_line(res.body) == \
        b"ERR upload-pack: too many wants (the limit is 2)"
    haves = ["have " + o for o in commits(git, server, 4)]
    res = server.http("POST", "/gitlim/small.git/git-upload-pack", RPC,
                      v2_request("fetch", wants[:1] + haves
                                 + ["have nothex", "done"]))
    assert res.status == 200, res
    assert err_line(res.body) == \
        b"ERR upload-pack: too many haves (the limit is 3)"


@pytest.mark.parametrize("encoding", ["identity", "gzip"])
def test_v2_body_is_read_no_further_than_the_limit(git, server, encoding):
    """A v2 fetch body is read (and inflated) only up to the want or have
    that crosses a limit, or a want we lack: what follows, here no flush and a tail that is
    not even pkt-lines (inflated, past git_smart_http_max_request_size),
    would be a 400 (framing) or a 413 (inflated past the limit) if it were
    read."""
    wants = ["want " + o for o in tips(git, server, 3)]
    haves = ["have " + o for o in commits(git, server, 4)]
    # gzip: 1 MiB inflated; identity: within max_request_size (4k), which
    # applies to a body as sent
    tail = CUT + b"x" * ((1 << 20) if encoding == "gzip" else 3000)
    headers = dict(RPC)
    if encoding == "gzip":
        headers["Content-Encoding"] = "gzip"

    def post(args):
        body = v2_request("fetch", args)[:-4] + tail  # no flush
        if encoding == "gzip":
            body = gzip_bytes(body)
        assert len(body) < 4096
        return server.http("POST", "/gitlim/small.git/git-upload-pack",
                           headers, body)

    unknown = "12" * 20
    for args, err in ((wants, b"too many wants (the limit is 2)"),
                      (wants[:1] + haves, b"too many haves (the limit is 3)"),
                      # as git, which reads no further than a want it lacks
                      (wants[:1] + ["want " + unknown],
                       b"not our ref " + unknown.encode())):
        res = post(args)
        assert res.status == 200, res
        assert err_line(res.body) == b"ERR upload-pack: " + err
    # within the limits the tail is read, and refused
    res = post(wants[:2] + haves[:3])
    assert res.status == 400, res


def test_a_git_client_shows_the_limit(git, server, tmp_path):
    code, _, err = git.run("clone", "--bare", server.module_url[:-len("/git")]
                           + "/gitlim/small.git", str(tmp_path / "c"))
    assert code != 0
    assert "too many wants" in err


@pytest.fixture
def upload_disabled(git, server):
    path = server.root / "noupload.git"
    if not path.exists():
        git("clone", "--bare", "-q", str(server.root / "small.git"), str(path))
        git("config", "http.uploadpack", "false", cwd=path)
        (path / "git-daemon-export-ok").touch()
    return "noupload.git"


def test_http_uploadpack_false_is_403_like_reference(server, upload_disabled):
    for name, _, prefix in server.sides:
        adv = server.http("GET", "%s/%s/info/refs?service=git-upload-pack"
                          % (prefix, upload_disabled), {"Git-Protocol": "version=2"})
        assert adv.status == 403, (name, adv)
        rpc = server.http("POST", "%s/%s/git-upload-pack" % (prefix, upload_disabled),
                          RPC, v2_request("ls-refs"))
        assert rpc.status == 403, (name, rpc)
