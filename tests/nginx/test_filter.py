"""Partial clone (issue 6): `git clone --filter=...` through the module and
through the reference, compared: exit code, refs, the objects the clone
holds (`git cat-file --batch-all-objects`, which never fetches a missing
object), the promisor configuration; then what a partial clone does
afterwards (checkout, log -p, blame: lazy fetches of missing objects by
id), refusals (uploadpack.allowFilter unset, uploadpackfilter.*, the
git_smart_http_filter directive) and malformed filter lines.

filter.git has a bitmap, filter-nobitmap.git has none (the module counts
objects with the bitmap where git does, and walks otherwise)."""

import pytest

from helpers import (RPC_V2, on_both, parse_pkt_lines, pkt, pkt_flush,
                     rpc_both, v2_request)

RPC_V0 = {"Content-Type": "application/x-git-upload-pack-request"}

FILTERS = [
    "blob:none",
    "blob:limit=1k",
    "blob:limit=0",
    "blob:limit=5000",
    "tree:0",
    "tree:1",
    "tree:2",
    "tree:4",
    "object:type=blob",
    "object:type=tree",
    "object:type=commit",
    "object:type=tag",
    "sparse:oid=main:sparse-spec",
    "combine:blob:none+tree:3",
    "combine:tree:3+blob:limit=100",
    "combine:object:type=tree+tree:2",
    "combine:blob:limit=1k+object:type=blob",
]


def partial_state(git, path):
    """What a partial clone holds, without fetching anything."""
    return {
        "refs": git("for-each-ref", "--format=%(objectname) %(refname)",
                    cwd=path),
        "objects": "\n".join(sorted(git(
            "cat-file", "--batch-all-objects", "--batch-check",
            cwd=path).splitlines())),
        "promisor": git.run("config", "--get-regexp", r"^remote\.origin\."
                            r"(promisor|partialclonefilter)$", cwd=path).out,
        "fsck": git.run("fsck", "--connectivity-only", "--no-progress",
                        cwd=path).code,
    }


def clone_both(git, server, tmp_path, repo, *opts, protocol=2,
               sides=None):
    out = {}
    for name, url, _ in sides or server.sides:
        dest = tmp_path / name
        r = git.run("clone", "--bare", *opts, "%s/%s" % (url, repo), dest,
                    protocol=protocol)
        out[name] = (r.code, partial_state(git, dest) if r.code == 0
                     else None, r)
    return out


def assert_same(res):
    mod, ref = res["module"], res["reference"]
    assert ref[0] == 0, ref[2].err
    assert mod[0] == 0, mod[2].err
    assert mod[1] == ref[1]


@pytest.mark.parametrize("protocol", [2, 0])
@pytest.mark.parametrize("repo", ["filter.git", "filter-nobitmap.git"])
@pytest.mark.parametrize("spec", FILTERS)
def test_filtered_clone_same_as_reference(git, server, tmp_path, spec, repo,
                                          protocol):
    res = clone_both(git, server, tmp_path, repo, "--filter=" + spec,
                     protocol=protocol)
    assert_same(res)
    state = res["module"][1]
    assert "remote.origin.promisor true" in state["promisor"]
    assert state["fsck"] == 0


@pytest.mark.parametrize("spec", ["blob:none", "tree:0", "object:type=blob",
                                  "blob:limit=1k"])
def test_filtered_single_branch_fetch_same_as_reference(git, server,
                                                        tmp_path, spec):
    """A partial clone of one branch, then a fetch of another: the fetch
    has haves and the remembered filter."""
    res = {}
    for name, url, _ in server.sides:
        dest = tmp_path / name
        git("clone", "-q", "--bare", "--single-branch", "--branch", "topic",
            "--filter=" + spec, "%s/filter.git" % url, dest)
        r = git.run("fetch", "origin", "main:main", "feature:feature",
                    cwd=dest)
        res[name] = (r.code, partial_state(git, dest), r)
    assert_same(res)


@pytest.mark.parametrize("repo,protocol", [
    ("filter.git", 2), ("filter-nobitmap.git", 2), ("filter-reachable.git", 2),
    ("filter-reachable.git", 0)])
def test_blobless_clone_checkout_log_blame(git, server, tmp_path, repo,
                                           protocol):
    """A blobless clone with a work tree, then commands that need blobs the
    clone lacks: each fetches them by id (want <blob>, no haves). Over v0 the
    client asks for objects no ref names only when the server advertises
    allow-reachable-sha1-in-want (or allow-tip-sha1-in-want)."""
    outputs = {}
    for name, url, _ in server.sides:
        dest = tmp_path / name
        r = git.run("clone", "--filter=blob:none", "%s/%s" % (url, repo),
                    dest, protocol=protocol)
        assert r.code == 0, (name, r.err)
        steps = [
            ("checkout", "-q", "topic"),
            ("checkout", "-q", "v1.0"),
            ("checkout", "-q", "main"),
            ("log", "-p", "--format=%H %s", "-n", "8"),
            ("blame", "--porcelain", "big.txt"),
            ("blame", "--porcelain", "src/a.c"),
            ("show", "tree-tag"),
            ("cat-file", "-p", "blob-tag"),
        ]
        out = []
        for step in steps:
            s = git.run(*step, cwd=dest, protocol=protocol)
            assert s.code == 0, (name, step, s.err)
            out.append(s.out)
        out.append(git("status", "--porcelain", cwd=dest))
        out.append(git("fsck", "--no-progress", cwd=dest))
        outputs[name] = out
    assert outputs["module"] == outputs["reference"]


def test_blobless_clone_over_v0_needs_reachable_sha1_in_want(git, server,
                                                            tmp_path):
    """Without uploadpack.allowReachableSHA1InWant, a v0 client refuses to
    ask for the missing blobs of the checkout itself: the clone succeeds and
    the checkout fails, on both sides alike."""
    errs = {}
    for name, url, _ in server.sides:
        r = git.run("clone", "--filter=blob:none", "%s/filter.git" % url,
                    tmp_path / name, protocol=0)
        assert r.code == 128, (name, r.err)
        errs[name] = sorted(line for line in r.err.splitlines()
                            if line.startswith(("error:", "fatal:")))
    assert errs["module"] == errs["reference"]
    assert any("unadvertised object" in e for e in errs["module"])


def test_treeless_clone_checkout(git, server, tmp_path):
    outputs = {}
    for name, url, _ in server.sides:
        dest = tmp_path / name
        r = git.run("clone", "--filter=tree:0", "%s/filter.git" % url, dest)
        assert r.code == 0, (name, r.err)
        for step in (("checkout", "-q", "feature"), ("checkout", "-q", "main"),
                     ("log", "--stat", "--format=%H", "-n", "3")):
            s = git.run(*step, cwd=dest)
            assert s.code == 0, (name, step, s.err)
        outputs[name] = (git("ls-files", "-s", cwd=dest),
                         git("status", "--porcelain", cwd=dest))
    assert outputs["module"] == outputs["reference"]
    assert "modules/sub" in outputs["module"][0]


@pytest.mark.parametrize("protocol", [2, 0])
def test_filter_not_allowed_by_repository(git, server, tmp_path, protocol):
    """small.git lacks uploadpack.allowFilter: no filter capability, so the
    client warns and clones everything, on both sides."""
    res = clone_both(git, server, tmp_path, "small.git", "--filter=blob:none",
                     protocol=protocol)
    assert_same(res)
    for side in res.values():
        assert "filtering not recognized by server" in side[2].err


@pytest.mark.parametrize("protocol", [2, 0])
def test_filter_directive_off(git, server, tmp_path, protocol):
    """git_smart_http_filter off: filter.git is served as if it did not
    allow filters; the result equals the reference's clone without one."""
    mod = tmp_path / "module"
    r = git.run("clone", "--bare", "--filter=blob:none",
                "%s/gitnofilter/filter.git" % server.base, mod,
                protocol=protocol)
    assert r.code == 0, r.err
    assert "filtering not recognized by server" in r.err
    ref = tmp_path / "reference"
    git("clone", "--bare", "%s/filter.git" % server.ref_url, ref)
    assert partial_state(git, mod)["objects"] == \
        partial_state(git, ref)["objects"]
    adv = server.http("GET", "/gitnofilter/filter.git/info/refs"
                      "?service=git-upload-pack",
                      {"Git-Protocol": "version=2"})
    assert b"filter" not in adv.body
    adv = server.http("GET", "/git/filter.git/info/refs"
                      "?service=git-upload-pack",
                      {"Git-Protocol": "version=2"})
    assert b"fetch=shallow wait-for-done filter\n" in adv.body


@pytest.mark.parametrize("protocol", [2, 0])
@pytest.mark.parametrize("spec,allowed", [
    ("blob:none", True), ("tree:1", True), ("tree:2", False),
    ("blob:limit=1k", False), ("combine:blob:none+tree:1", False)])
def test_filter_policy(git, server, tmp_path, spec, allowed, protocol):
    """uploadpackfilter.allow false, uploadpackfilter.blob:none.allow true,
    uploadpackfilter.tree.maxDepth 1: the same clone or the same error."""
    res = clone_both(git, server, tmp_path, "filter-policy.git",
                     "--filter=" + spec, protocol=protocol)
    if allowed:
        assert_same(res)
        return
    errors = {}
    for name, (code, _state, r) in res.items():
        assert code == 128, (name, r.err)
        errors[name] = [line for line in r.err.splitlines()
                        if "remote error" in line]
    assert errors["module"] == errors["reference"]
    assert errors["module"], res["reference"][2].err


def test_advertisements_same_as_reference(server):
    for headers in ({"Git-Protocol": "version=2"}, {}):
        res = {name: server.http("GET", "%s/filter.git/info/refs?service="
                                 "git-upload-pack" % prefix, headers)
               for name, _, prefix in server.sides}
        caps = {}
        for name, resp in res.items():
            assert resp.status == 200
            lines = [ln for ln in parse_pkt_lines(resp.body)
                     if isinstance(ln, bytes)]
            if headers:
                caps[name] = [ln for ln in lines if ln.startswith(b"fetch=")]
            else:
                first = [ln for ln in lines if b"\0" in ln][0]
                caps[name] = first.split(b"\0")[1].split(b" agent=")[0]
        assert caps["module"] == caps["reference"]


MALFORMED = ["blob:nonsense", "blob:limit=1x", "blob:limit=-1", "tree:x",
             "object:type=ofs-delta", "sparse:path=/etc/passwd", "combine:",
             "combine:blob:none+tree:a", "combine:blob:none+tree%3A1+~"]


@pytest.mark.parametrize("spec", MALFORMED)
def test_malformed_filter_is_400(git, server, spec):
    """git's upload-pack dies on a malformed spec (http-backend has sent
    200 and the body ends); the module answers 400 as for any malformed
    request."""
    want = git("rev-parse", "main", cwd=server.root / "filter.git")
    body = v2_request("fetch", ["want " + want, "filter " + spec, "done"])
    res = rpc_both(server, "filter.git", body, RPC_V2)
    assert res["reference"].status == 200
    assert b"packfile" not in res["reference"].body
    assert res["module"].status == 400, res["module"]
    v0 = (pkt("want %s side-band-64k filter\n" % want) + pkt("filter %s\n"
          % spec) + pkt_flush() + pkt("done\n"))
    res = rpc_both(server, "filter.git", v0, RPC_V0)
    assert res["reference"].status == 200
    assert b"PACK" not in res["reference"].body
    assert res["module"].status == 400, res["module"]


def test_two_filters_and_unnegotiated_filter_are_400(git, server):
    want = git("rev-parse", "main", cwd=server.root / "filter.git")
    twice = v2_request("fetch", ["want " + want, "filter blob:none",
                                 "filter tree:0", "done"])
    # v0 without the filter capability on the want line
    unasked = (pkt("want %s side-band-64k\n" % want)
               + pkt("filter blob:none\n") + pkt_flush() + pkt("done\n"))
    for body, headers in ((twice, RPC_V2), (unasked, RPC_V0)):
        res = rpc_both(server, "filter.git", body, headers)
        assert res["reference"].status == 200
        assert res["module"].status == 400, res["module"]
    # a repository without uploadpack.allowFilter: "filter" is an unknown
    # argument in v2
    want = git("rev-parse", "main", cwd=server.root / "small.git")
    res = rpc_both(server, "small.git", v2_request(
        "fetch", ["want " + want, "filter blob:none", "done"]), RPC_V2)
    assert res["module"].status == 400, res["module"]


def test_lazy_fetch_of_blob_by_id_same_as_reference(git, server, tmp_path):
    """What a lazy fetch sends: want <blob> (one the refs reach, and one
    that only an older commit has), no haves, the clone's filter."""
    repo = server.root / "filter.git"
    blobs = [git("rev-parse", "main:large.bin", cwd=repo),
             git("rev-parse", "main~1:large.bin", cwd=repo),
             git("rev-parse", "v1.0:big.txt", cwd=repo)]
    body = v2_request("fetch", ["ofs-delta", "no-progress"]
                      + ["want " + b for b in blobs]
                      + ["filter blob:none", "done"])
    res = rpc_both(server, "filter.git", body, RPC_V2)
    from helpers import fetch_outcome
    outs = {name: fetch_outcome(git, r, tmp_path / name)
            for name, r in res.items()}
    assert outs["reference"][0] == "pack", outs["reference"]
    assert sorted(outs["reference"][2]) == sorted(blobs)
    assert outs["module"] == outs["reference"]


@pytest.mark.parametrize("protocol", [2, 0])
@pytest.mark.parametrize("spec", ["blob:none", "tree:0"])
def test_shallow_filtered_clone_same_as_reference(git, server, tmp_path,
                                                  spec, protocol):
    """CI's favourite: --depth=1 with a filter."""
    res = clone_both(git, server, tmp_path, "filter.git", "--depth=1",
                     "--filter=" + spec, protocol=protocol)
    assert_same(res)
    shallow = {side: sorted((tmp_path / side / "shallow").read_text()
                            .split()) for side in ("module", "reference")}
    assert shallow["module"] and shallow["module"] == shallow["reference"]


def test_sparse_filter_naming_no_blob_fails_as_reference(git, server,
                                                          tmp_path):
    """sparse:oid= of something that is not there: git's pack-objects dies
    after the fetch began; the clone fails on both sides."""
    res = clone_both(git, server, tmp_path, "filter.git",
                     "--filter=sparse:oid=main:no-such-file")
    for name, (code, _state, r) in res.items():
        assert code == 128, (name, r.err)
        assert "unable to access sparse blob in 'main:no-such-file'" \
            in r.err, (name, r.err)
