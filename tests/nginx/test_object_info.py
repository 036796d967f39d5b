"""The protocol v2 object-info command through the module and the
reference: advertised as git 2.39 advertises it (always), and answered
byte for byte the same, errors included."""

import pytest

from helpers import RPC_V2, parse_pkt_lines, rpc_both, v2_request


def test_advertised_by_both(server):
    for _, _, prefix in server.sides:
        resp = server.http("GET", "%s/small.git/info/refs?service="
                           "git-upload-pack" % prefix,
                           {"Git-Protocol": "version=2"})
        assert b"object-info\n" in parse_pkt_lines(resp.body), prefix


def ids(git, server):
    """Objects of hidden.git: all of them are in hidden.git, those of
    small.git in multipack.git too, refs/hidden/secret's only in the first."""
    path = server.root / "hidden.git"
    return {spec: git("rev-parse", spec, cwd=path) for spec in (
        "main", "main^{tree}", "main:big.txt", "main~5:big.txt", "v1.0",
        "blob-tag", "refs/hidden/secret")}


def cases(o):
    return {
        "sizes": ["size"] + ["oid " + v for v in o.values()],
        "size last": ["oid " + o["main:big.txt"], "size"],
        "missing": ["size", "oid " + "1" * 40],
        "upper case": ["size", "oid " + o["main"].upper()],
        "trailing bytes": ["size", "oid " + o["main"] + "xyz"],
        "bad oid then good": ["size", "oid 12345", "oid " + o["main"]],
        "unexpected line": ["size", "bogus", "oid " + o["main"]],
        "no oid": ["size"],
        "nothing": [],
    }


CASES = ["sizes", "size last", "missing", "upper case", "trailing bytes",
         "bad oid then good", "unexpected line", "no oid", "nothing"]


@pytest.mark.parametrize("repo", ["small.git", "hidden.git", "multipack.git"])
@pytest.mark.parametrize("case", CASES)
def test_same_as_reference(git, server, repo, case):
    args = cases(ids(git, server))[case]
    res = rpc_both(server, repo, v2_request("object-info", args))
    ref, mod = res["reference"], res["module"]
    assert ref.status == 200
    assert ref.body.endswith(b"0000"), ref.body
    assert mod.status == 200, mod
    assert mod.body == ref.body


def test_sizes_are_the_objects_sizes(git, server):
    o = ids(git, server)
    res = rpc_both(server, "small.git",
                   v2_request("object-info", ["size", "oid " + o["main:big.txt"]]))
    items = parse_pkt_lines(res["module"].body)
    size = int(git("cat-file", "-s", o["main:big.txt"],
                   cwd=server.root / "small.git"))
    assert items == [b"size", b"%s %d" % (o["main:big.txt"].encode(), size),
                     "flush"]


def test_overlong_error_line_is_400(server):
    """An oid line that fits a request but whose ERR line would not fit a
    pkt-line: git dies, the module answers 400 (never a corrupt line)."""
    body = v2_request("object-info", ["size", "oid " + "zz" + "a" * 65500])
    resp = server.http("POST", "/git/small.git/git-upload-pack", RPC_V2,
                       body)
    assert resp.status == 400


def test_without_size_lists_the_ids(git, server):
    """README: object-info without the size argument lists only the object
    ids (git 2.39 reads an uninitialised flag there, so the reference is
    not compared)."""
    o = ids(git, server)
    wanted = [o["main"], o["main:big.txt"]]
    resp = server.http("POST", "/git/small.git/git-upload-pack", RPC_V2,
                       v2_request("object-info",
                                  ["oid " + v for v in wanted]))
    assert resp.status == 200
    assert parse_pkt_lines(resp.body) == [v.encode() for v in wanted] + \
        ["flush"]
