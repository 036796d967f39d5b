"""sideband-all (uploadpack.allowSidebandAll): advertised only when allowed,
and once the client asks for it every line of the fetch response travels on
a side-band, as gitprotocol-v2 says. git's client asks for it as soon as it
is advertised, so clones of v2extras.git use it."""

import re

import pytest

from helpers import clone, parse_pkt_lines, rpc_both, v2_request


def fetch_line(server, prefix, repo):
    resp = server.http("GET", "%s/%s/info/refs?service=git-upload-pack"
                       % (prefix, repo), {"Git-Protocol": "version=2"})
    return [it for it in parse_pkt_lines(resp.body)
            if isinstance(it, bytes) and it.startswith(b"fetch=")]


@pytest.mark.parametrize("repo,advertised", [("v2extras.git", True),
                                             ("small.git", False)])
def test_advertised_only_when_allowed(server, repo, advertised):
    for _, _, prefix in server.sides:
        line = fetch_line(server, prefix, repo)
        assert len(line) == 1
        assert (b" sideband-all" in line[0]) == advertised, (prefix, line)


def head(body):
    """The response up to and including the (band 1) packfile line."""
    pos = body.find(b"\x01packfile\n")
    return body if pos < 0 else body[:pos + 10]


def request_cases(git, server):
    path = server.root / "v2extras.git"
    tip = git("rev-parse", "main", cwd=path)
    old = git("rev-parse", "main~3", cwd=path)
    return {
        "acknowledgments": ["want " + tip, "have " + old],
        "nak": ["want " + tip, "have " + "3" * 40],
        "done": ["want " + tip, "done"],
        "shallow": ["want " + tip, "deepen 2", "done"],
        "wanted-refs": ["want-ref refs/heads/main", "done"],
        "unknown object": ["want " + "1" * 40, "done"],
        "unknown ref": ["want-ref refs/heads/nope", "done"],
    }


CASES = ["acknowledgments", "nak", "done", "shallow", "wanted-refs",
         "unknown object", "unknown ref"]


@pytest.mark.parametrize("case", CASES)
def test_response_same_as_reference(git, server, case):
    args = ["sideband-all", "ofs-delta", "no-progress"] + \
        request_cases(git, server)[case]
    res = rpc_both(server, "v2extras.git", v2_request("fetch", args))
    ref, mod = res["reference"], res["module"]
    assert ref.status == 200 and mod.status == 200, mod
    # every line but flush and delim is on a side-band
    for it in parse_pkt_lines(head(ref.body)):
        assert not isinstance(it, bytes) or it[:1] in (b"\x01", b"\x03"), it
    assert head(mod.body) == head(ref.body)


def test_not_allowed_is_refused(git, server):
    tip = git("rev-parse", "main", cwd=server.root / "small.git")
    res = rpc_both(server, "small.git",
                   v2_request("fetch", ["sideband-all", "want " + tip,
                                        "done"]))
    assert b"packfile" not in res["reference"].body
    assert res["module"].status == 400


@pytest.mark.parametrize("opts", [[], ["--depth", "2"]], ids=["full", "depth 2"])
def test_clone_uses_sideband_all(git, server, tmp_path, opts):
    """A full clone: the client sends sideband-all to both and gets the same
    repository. With --depth, the reference fails (want-ref: see
    test_want_ref.py) and the module's clone is checked on its own."""
    res = {}
    for side, url, _ in server.sides:
        trace = tmp_path / ("%s.trace" % side)
        cmp, r, _ = clone(git, "%s/v2extras.git" % url, tmp_path / side,
                          "--bare", *opts,
                          env={"GIT_TRACE_PACKET": str(trace)})
        sent = re.findall(r"(?:clone|fetch)> (sideband-all)",
                          trace.read_text(errors="replace"))
        res[side] = (cmp, r, sent)
    mod, ref = res["module"], res["reference"]
    assert mod[2] == ["sideband-all"], mod[1].err
    assert mod[0]["code"] == 0, mod[1].err
    assert mod[0]["state"]["fsck"][0] == 0
    if not opts:
        assert ref[0]["code"] == 0, ref[1].err
        assert mod[0] == ref[0]
