"""Protocol v2 on the wire (raw HTTP): the capability advertisement,
ls-refs and fetch requests, compared with git http-backend where the two
must agree byte for byte (agent= values normalised)."""

import pytest

from helpers import (DELIM, FLUSH, fetch_outcome, normalise_agent,
                     parse_pkt_lines, pkt, rpc_both, v2_request)

V2 = {"Git-Protocol": "version=2"}

# What git 2.39's upload-pack advertises (checked below, so that a change of
# the reference is noticed) and what the module advertises: exactly this.
REFERENCE_CAPS = [b"agent=X", b"ls-refs=unborn", b"fetch=shallow wait-for-done",
                  b"server-option", b"object-format=sha1", b"object-info"]
MODULE_CAPS = REFERENCE_CAPS


def advertisement(server, prefix, repo="small.git"):
    return server.http("GET", "%s/%s/info/refs?service=git-upload-pack"
                       % (prefix, repo), V2)


def capability_lines(resp):
    items = parse_pkt_lines(resp.body)
    assert items[0] == b"version 2\n", items
    assert items[-1] == FLUSH, items
    assert FLUSH not in items[:-1] and DELIM not in items, items
    caps = []
    for it in items[1:-1]:
        assert it.endswith(b"\n"), it
        caps.append(normalise_agent(it[:-1]))
    return caps


def test_reference_capability_advertisement(server):
    resp = advertisement(server, "/ref")
    assert resp.status == 200
    assert capability_lines(resp) == REFERENCE_CAPS


@pytest.mark.parametrize("repo", ["small.git", "empty.git",
                                  "group/sub/project.git", "plain"])
def test_module_capability_advertisement(server, repo):
    resp = advertisement(server, "/git", repo)
    assert resp.status == 200, resp
    assert resp.header("Content-Type") == \
        "application/x-git-upload-pack-advertisement"
    caps = capability_lines(resp)
    assert sorted(caps) == sorted(MODULE_CAPS)
    assert len(caps) == len(set(caps))
    agents = [it for it in parse_pkt_lines(resp.body)
              if isinstance(it, bytes) and it.startswith(b"agent=")]
    assert len(agents) == 1 and len(agents[0].strip()) > len(b"agent=")
    assert b" " not in agents[0].strip()


LS_REFS_ARGS = [
    [],
    ["peel"],
    ["symrefs"],
    ["peel", "symrefs"],
    ["peel", "symrefs", "unborn"],
    ["ref-prefix refs/heads/"],
    ["ref-prefix refs/tags/v1"],
    ["symrefs", "ref-prefix HEAD"],
    ["peel", "ref-prefix refs/tags/", "ref-prefix refs/heads/rel"],
    ["ref-prefix refs/nothing/"],
]


@pytest.mark.parametrize("repo", ["small.git", "hidden.git", "empty.git",
                                  "multipack.git"])
@pytest.mark.parametrize("args", LS_REFS_ARGS,
                         ids=[" ".join(a) or "plain" for a in LS_REFS_ARGS])
def test_ls_refs_same_as_reference(server, repo, args):
    res = rpc_both(server, repo, v2_request("ls-refs", args))
    ref, mod = res["reference"], res["module"]
    assert ref.status == 200
    parse_pkt_lines(ref.body)
    assert mod.status == 200, mod
    assert mod.header("Content-Type") == "application/x-git-upload-pack-result"
    assert mod.body == ref.body


def test_ls_refs_empty_repository_unborn(server):
    res = rpc_both(server, "empty.git",
                   v2_request("ls-refs", ["peel", "symrefs", "unborn"]))
    assert res["reference"].body == \
        b"002eunborn HEAD symref-target:refs/heads/main\n0000"
    assert res["module"].body == res["reference"].body


def test_ls_refs_peeled_tag_of_tag(server):
    res = rpc_both(server, "small.git",
                   v2_request("ls-refs", ["peel", "ref-prefix refs/tags/v1"]))
    lines = parse_pkt_lines(res["reference"].body)
    # v1.0-meta is a tag of the tag v1.0: peeled to the commit, both of them
    meta = [l for l in lines if isinstance(l, bytes) and b"v1.0-meta" in l]
    plain = [l for l in lines if isinstance(l, bytes) and b"v1.0 " in l]
    assert meta[0].split(b"peeled:")[1] == plain[0].split(b"peeled:")[1]
    assert res["module"].body == res["reference"].body


def want_id(git, server, repo, kind):
    path = server.root / repo
    spec = {
        "tip": "main",
        "non-tip commit": "main~3",
        "tree": "main~1^{tree}",
        "blob": "main~2:big.txt",
        "annotated tag": "v1.0",
        "hidden tip": "refs/hidden/secret",
        "private tip": "refs/private/stuff",
    }.get(kind)
    if spec is None:
        return "1" * 40
    return git("rev-parse", "--verify", spec, cwd=path)


WANT_KINDS = ["tip", "non-tip commit", "tree", "blob", "annotated tag",
              "missing"]
WANT_CASES = [(repo, kind) for repo in ("small.git", "hidden.git",
                                        "reachable.git", "anysha.git")
              for kind in WANT_KINDS]
# with uploadpack.allow{Reachable,Any}SHA1InWant the tips of hidden refs
# are served, as by the reference
WANT_CASES += [(repo, kind) for repo in ("reachable.git", "anysha.git")
               for kind in ("hidden tip", "private tip")]


@pytest.mark.parametrize("repo,kind", WANT_CASES,
                         ids=["%s %s" % c for c in WANT_CASES])
def test_fetch_want_same_as_reference(git, server, tmp_path, repo, kind):
    """A fetch whose want is not (necessarily) a ref tip: a reachable
    non-tip commit, a tree, a blob, an annotated tag, a missing object, and
    with uploadpack.allow{Reachable,Any}SHA1InWant the tips of hidden refs.
    In protocol v2, git 2.39's upload-pack only checks that a wanted object
    exists (the allow* settings make no difference there); a missing object
    is answered with "ERR upload-pack: not our ref <oid>". The module must
    give the same answer: the same ERR line, or a pack with the same
    objects."""
    oid = want_id(git, server, repo, kind)
    body = v2_request("fetch", ["ofs-delta", "no-progress", "want " + oid,
                                "done"])
    res = rpc_both(server, repo, body)
    ref, mod = res["reference"], res["module"]
    assert ref.status == 200
    ref_out = fetch_outcome(git, ref, tmp_path / "reference")
    if kind == "missing":
        assert ref_out == ("ERR", b"ERR upload-pack: not our ref %s"
                           % oid.encode())
    else:
        assert ref_out[0] == "pack", ref_out
        assert oid in ref_out[2]
    assert mod.status == 200, mod
    mod_out = fetch_outcome(git, mod, tmp_path / "module")
    assert mod_out == ref_out


@pytest.mark.parametrize("kind", ["hidden tip", "private tip"])
def test_fetch_want_hidden_tip_refused(git, server, tmp_path, kind):
    """The tip of a ref hidden by uploadpack.hideRefs / transfer.hideRefs
    (and only reachable from it), with no uploadpack.allow*SHA1InWant: the
    module refuses it with the ERR line git uses for a refused want.

    A deliberate difference from the reference: git 2.39's upload-pack in
    protocol v2 only checks that a wanted object exists, so http-backend
    sends it (asserted last, so that a change of the reference is seen)."""
    oid = want_id(git, server, "hidden.git", kind)
    body = v2_request("fetch", ["ofs-delta", "no-progress", "want " + oid,
                                "done"])
    res = rpc_both(server, "hidden.git", body)
    mod = res["module"]
    assert mod.status == 200, mod
    assert mod.body == pkt("ERR upload-pack: not our ref %s" % oid)
    ref_out = fetch_outcome(git, res["reference"], tmp_path / "r")
    assert ref_out[0] == "pack" and oid in ref_out[2]


def test_fetch_err_bytes_same_as_reference(server):
    oid = "1" * 40
    res = rpc_both(server, "small.git",
                   v2_request("fetch", ["want " + oid, "done"]))
    assert res["reference"].body == \
        b"0049ERR upload-pack: not our ref " + oid.encode()
    assert res["module"].body == res["reference"].body


def test_fetch_with_haves_acknowledgments(git, server, tmp_path):
    """Without "done": the server answers the haves with an
    acknowledgments section (ACK for the common commit, then "ready" and the
    pack, or NAK)."""
    path = server.root / "small.git"
    want = git("rev-parse", "main", cwd=path)
    have = git("rev-parse", "main~4", cwd=path)
    for haves in ([have], ["3" * 40]):
        body = v2_request("fetch", ["ofs-delta", "no-progress", "want " + want]
                          + ["have " + h for h in haves])
        res = rpc_both(server, "small.git", body)
        ref, mod = res["reference"], res["module"]
        assert ref.status == 200 and mod.status == 200, mod
        ref_items = parse_pkt_lines(ref.body, stop_at_pack=True)[0]
        assert ref_items[0] == b"acknowledgments\n"
        mod_items = parse_pkt_lines(mod.body, stop_at_pack=True)[0]
        assert mod_items == ref_items
        if ref_items[-1] == b"packfile\n":
            assert fetch_outcome(git, mod, tmp_path / "m") == \
                fetch_outcome(git, ref, tmp_path / "r")


def test_fetch_include_tag(git, server, tmp_path):
    """include-tag: annotated tags pointing into the sent history come
    along (also the tag of a tag)."""
    path = server.root / "small.git"
    want = git("rev-parse", "release/1.0", cwd=path)
    body = v2_request("fetch", ["ofs-delta", "include-tag", "no-progress",
                                "want " + want, "done"])
    res = rpc_both(server, "small.git", body)
    ref_out = fetch_outcome(git, res["reference"], tmp_path / "r")
    tag = git("rev-parse", "v1.0-meta", cwd=path)
    assert tag in ref_out[2]
    assert fetch_outcome(git, res["module"], tmp_path / "m") == ref_out


@pytest.mark.parametrize("caps", [(), ("agent=other/1.0",),
                                  ("server-option=one", "server-option=two",
                                   "agent=git/2.39.5", "object-format=sha1")],
                         ids=["no capabilities", "agent only",
                              "server options"])
def test_ls_refs_request_capabilities(server, caps):
    """The capability lines of a request (none at all, another agent,
    server options) do not change the answer."""
    res = rpc_both(server, "small.git",
                   v2_request("ls-refs", ["peel", "symrefs"], caps=caps))
    assert res["reference"].status == 200
    assert b"refs/heads/main" in res["reference"].body
    assert res["module"].status == 200, res["module"]
    assert res["module"].body == res["reference"].body
