"""want-ref (uploadpack.allowRefInWant) through the module and the
reference: the advertisement, clones and fetches that send want-ref (git
does as soon as the server advertises ref-in-want), the wanted-refs
section, refusals of unknown and hidden refs, and a shallow clone, where
git 2.39's own server fails and the module must not.

wantref.git is hidden.git (small.git plus two hidden refs) with
uploadpack.allowRefInWant; hidden.git itself is the same history without it.
"""

import re

import pytest

from helpers import (FLUSH, check_pack, clone, fetch_outcome, normalise_agent,
                     parse_pkt_lines, pkt, rpc_both, v2_request)

V2 = {"Git-Protocol": "version=2"}
INFO_REFS = "/info/refs?service=git-upload-pack"


def get_both(server, repo, headers):
    return {name: server.http("GET", "%s/%s%s" % (prefix, repo, INFO_REFS),
                              headers)
            for name, _, prefix in server.sides}


def fetch_line(resp):
    lines = [it for it in parse_pkt_lines(resp.body)
             if isinstance(it, bytes) and it.startswith(b"fetch=")]
    assert len(lines) == 1, resp.body
    return lines[0]


@pytest.mark.parametrize("repo,expected", [
    ("wantref.git", b"fetch=shallow wait-for-done ref-in-want\n"),
    ("hidden.git", b"fetch=shallow wait-for-done\n"),
    ("small.git", b"fetch=shallow wait-for-done\n"),
])
def test_v2_advertisement_names_ref_in_want_only_when_allowed(server, repo,
                                                             expected):
    res = get_both(server, repo, V2)
    assert fetch_line(res["reference"]) == expected
    assert fetch_line(res["module"]) == expected
    assert [normalise_agent(it) for it in parse_pkt_lines(res["module"].body)] \
        == [normalise_agent(it) for it in parse_pkt_lines(res["reference"].body)]


def v0_capabilities(body):
    items = parse_pkt_lines(body)
    assert items[:2] == [b"# service=git-upload-pack\n", FLUSH], items[:2]
    first = items[2]
    caps = first.rstrip(b"\n").partition(b"\0")[2]
    return sorted(normalise_agent(caps).split())


@pytest.mark.parametrize("protocol", [None, "version=1"])
def test_v0_advertisement_gains_nothing(server, protocol):
    """ref-in-want is a protocol v2 feature: the v0/v1 capabilities of
    wantref.git are those of hidden.git, on both sides."""
    headers = {"Git-Protocol": protocol} if protocol else {}
    res = get_both(server, "wantref.git", headers)
    plain = get_both(server, "hidden.git", headers)
    caps = v0_capabilities(res["reference"].body)
    assert not any(b"ref-in-want" in c for c in caps)
    assert v0_capabilities(res["module"].body) == caps
    assert v0_capabilities(plain["module"].body) == caps
    assert res["module"].body == plain["module"].body


def sent_lines(trace_path):
    """The pkt-lines a git client wrote (GIT_TRACE_PACKET), as text."""
    text = trace_path.read_text(errors="replace")
    return re.findall(r"packet: +(?:fetch|clone|git)> (.*)", text)


def clone_traced(git, server, tmp_path, url_path, *opts, protocol=2):
    """Clones from both sides with GIT_TRACE_PACKET; returns
    {side: (comparable dict, GitResult, pack, lines sent)}."""
    out = {}
    for side, url, _ in server.sides:
        trace = tmp_path / ("%s.packet-trace" % side)
        cmp, r, pack = clone(git, "%s/%s" % (url, url_path), tmp_path / side,
                             *opts, env={"GIT_TRACE_PACKET": str(trace)},
                             protocol=protocol)
        out[side] = (cmp, r, pack, sent_lines(trace) if trace.exists() else [])
    return out


def test_clone_sends_want_ref_same_as_reference(git, server, tmp_path):
    res = clone_traced(git, server, tmp_path, "wantref.git", "--bare")
    mod, ref = res["module"], res["reference"]
    assert ref[0]["code"] == 0, ref[1].err
    assert any(l.startswith("want-ref refs/heads/") for l in ref[3]), ref[3]
    assert any(l.startswith("want-ref refs/heads/") for l in mod[3]), mod[3]
    assert mod[0]["code"] == 0, mod[1].err
    assert mod[0] == ref[0]
    assert check_pack(mod[2]) > 0


@pytest.mark.parametrize("refspecs", [
    ["refs/heads/topic:refs/heads/topic"],
    ["refs/heads/main:refs/heads/x", "refs/tags/v1.0:refs/tags/v1.0"],
    ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"],
], ids=["one branch", "branch and tag", "everything"])
def test_fetch_by_want_ref_same_as_reference(git, server, tmp_path, refspecs):
    def run(url, side):
        repo = tmp_path / side
        git("init", "-q", "--bare", repo)
        trace = tmp_path / ("%s.packet-trace" % side)
        r = git.run("fetch", "%s/wantref.git" % url, *refspecs, cwd=repo,
                    env={"GIT_TRACE_PACKET": str(trace)})
        refs = git.run("for-each-ref", cwd=repo).out
        objects = sorted(git.run("rev-list", "--objects", "--all",
                                 cwd=repo).out.splitlines())
        return (r.code, refs, objects), r, sent_lines(trace)

    res = {side: run(url, side) for side, url, _ in server.sides}
    mod, ref = res["module"], res["reference"]
    assert ref[0][0] == 0, ref[1].err
    assert any(l.startswith("want-ref ") for l in ref[2]), ref[2]
    assert mod[0] == ref[0], mod[1].err


@pytest.mark.parametrize("options", [["--depth", "1"], ["--depth", "3"],
                                     ["--shallow-exclude", "v1.0"]],
                         ids=" ".join)
def test_shallow_clone_with_want_ref(git, server, tmp_path, options):
    """git 2.39's upload-pack writes wanted-refs before shallow-info, which
    its own client refuses: the reference fails this clone. The module
    sends them in gitprotocol-v2's order, and its clone is the one the
    reference makes of the same history without want-ref (hidden.git)."""
    res = clone_traced(git, server, tmp_path, "wantref.git", *options,
                       "--bare")
    mod, ref = res["module"], res["reference"]
    assert ref[0]["code"] != 0
    assert "expected 'packfile', received 'shallow-info'" in ref[1].err, \
        ref[1].err
    assert mod[0]["code"] == 0, mod[1].err
    assert any(l.startswith("want-ref ") for l in mod[3]), mod[3]
    assert any(l.startswith("deepen") for l in mod[3]), mod[3]

    plain, r, _ = clone(git, "%s/hidden.git" % server.ref_url,
                        tmp_path / "plain", *options, "--bare")
    assert plain["code"] == 0, r.err
    assert mod[0] == plain
    assert sorted((tmp_path / "module" / "shallow").read_text().split()) == \
        sorted((tmp_path / "plain" / "shallow").read_text().split())


def test_wanted_refs_section_same_as_reference(git, server, tmp_path):
    body = v2_request("fetch", ["ofs-delta", "no-progress",
                                "want-ref refs/heads/main",
                                "want-ref refs/tags/v1.0",
                                "want-ref HEAD", "done"])
    res = rpc_both(server, "wantref.git", body)
    ref_out = fetch_outcome(git, res["reference"], tmp_path / "r")
    assert ref_out[0] == "pack", ref_out
    assert ref_out[1][0] == b"wanted-refs\n"
    assert res["module"].status == 200
    assert fetch_outcome(git, res["module"], tmp_path / "m") == ref_out


@pytest.mark.parametrize("ref", ["refs/heads/nope", "refs/hidden/secret",
                                 "refs/private/stuff", "main"])
def test_unknown_or_hidden_ref_refused_as_reference(server, ref):
    body = v2_request("fetch", ["want-ref " + ref, "done"])
    res = rpc_both(server, "wantref.git", body)
    assert res["reference"].body == pkt("ERR unknown ref " + ref)
    assert res["module"].status == 200
    assert res["module"].body == res["reference"].body


def test_want_ref_not_allowed_is_refused(server):
    """Without uploadpack.allowRefInWant, want-ref is an unexpected line:
    git dies (an empty answer), the module answers 400."""
    body = v2_request("fetch", ["want-ref refs/heads/main", "done"])
    res = rpc_both(server, "hidden.git", body)
    assert b"packfile" not in res["reference"].body
    assert res["module"].status == 400


def test_git_fetch_of_unknown_ref_fails_as_reference(git, server, tmp_path):
    def run(url, side):
        repo = tmp_path / side
        git("init", "-q", "--bare", repo)
        return git.run("fetch", "%s/wantref.git" % url,
                       "refs/heads/nope:refs/heads/nope", cwd=repo)

    res = {side: run(url, side) for side, url, _ in server.sides}
    assert res["reference"].code != 0
    assert res["module"].code == res["reference"].code
    # what the user is told, with the URL (/git or /ref) taken out
    told = {side: res[side].err.replace(url, "URL")
            for side, url, _ in server.sides}
    assert "refs/heads/nope" in told["reference"], told["reference"]
    assert told["module"] == told["reference"]


@pytest.mark.parametrize("args", [[], ["peel", "symrefs", "unborn"],
                                  ["ref-prefix refs/hidden/"]],
                         ids=["plain", "peel symrefs unborn", "hidden prefix"])
def test_ls_refs_unchanged(server, args):
    """uploadpack.allowRefInWant changes nothing in ls-refs."""
    res = rpc_both(server, "wantref.git", v2_request("ls-refs", args))
    plain = rpc_both(server, "hidden.git", v2_request("ls-refs", args))
    for r in (res, plain):
        assert (r["module"].status, r["reference"].status) == (200, 200)
    assert res["reference"].body == plain["reference"].body
    assert res["module"].body == res["reference"].body
