"""HTTP-level behaviour (raw requests): statuses of refused requests,
response headers, request bodies (gzip, large), compared with git
http-backend where it defines the answer."""

import hashlib

import pytest

from helpers import (FLUSH, clone, fetch_outcome, gzip_bytes, normalise_agent,
                     parse_pkt_lines, v2_request)

V2 = {"Git-Protocol": "version=2"}
RPC_TYPE = "application/x-git-upload-pack-request"
RPC = {"Git-Protocol": "version=2", "Content-Type": RPC_TYPE}
INFO_REFS = "/info/refs?service=git-upload-pack"

# The reference's no-cache headers, on every response of git http-backend
# (also its errors).
NO_CACHE = {
    "Expires": "Fri, 01 Jan 1980 00:00:00 GMT",
    "Pragma": "no-cache",
    "Cache-Control": "no-cache, max-age=0, must-revalidate",
}


def both(server, method, path, headers=None, body=None):
    """The same request (path relative to the location) on both sides."""
    return {name: server.http(method, prefix + path, headers, body)
            for name, _, prefix in server.sides}


def assert_refused_like_reference(res, expected):
    ref, mod = res["reference"], res["module"]
    assert ref.status == expected, ref
    assert mod.status == ref.status, (mod.status, mod.body[:300])


# --------------------------------------------------------------------------
# repositories that are not served: 404, never saying why

NOT_FOUND = ["", "missing.git", "missing", "noexport.git", "noexport",
             "notarepo", "group", "group/sub", "group/sub/missing.git",
             "small.git/objects", "plain.git", "plain/.git/objects"]
NOT_FOUND_IDS = [p or "root itself" for p in NOT_FOUND]


@pytest.mark.parametrize("path", NOT_FOUND, ids=NOT_FOUND_IDS)
def test_not_found_advertisement(server, path):
    res = both(server, "GET", "/%s%s" % (path, INFO_REFS), V2)
    assert_refused_like_reference(res, 404)


@pytest.mark.parametrize("path", NOT_FOUND, ids=NOT_FOUND_IDS)
def test_not_found_rpc(server, path):
    res = both(server, "POST", "/%s/git-upload-pack" % path, RPC,
               v2_request("ls-refs"))
    assert_refused_like_reference(res, 404)


def test_not_found_same_answer_for_missing_and_not_exported(server):
    """The answer does not tell a missing repository from one that is not
    exported."""
    missing = server.http("GET", "/git/missing.git" + INFO_REFS, V2)
    hidden = server.http("GET", "/git/noexport.git" + INFO_REFS, V2)
    assert missing.status == hidden.status == 404
    assert missing.body == hidden.body


@pytest.mark.parametrize("prefix", ["/gitall", "/refall"])
def test_export_all_serves_not_exported(server, git, prefix):
    resp = server.http("GET", prefix + "/noexport.git" + INFO_REFS, V2)
    assert resp.status == 200
    r = git.run("ls-remote", server.base + prefix + "/noexport.git")
    assert r.code == 0 and "refs/heads/main" in r.out


def test_export_all_same_as_reference(server, git, tmp_path):
    """/gitall/ (export_all on) against /refall/ (GIT_HTTP_EXPORT_ALL):
    ls-remote and a clone of the repository without git-daemon-export-ok."""
    outs = {}
    for prefix in ("/gitall", "/refall"):
        url = server.base + prefix + "/noexport.git"
        r = git.run("ls-remote", "--symref", url)
        cloned, c, _ = clone(git, url, tmp_path / prefix.strip("/"), "--bare")
        outs[prefix] = (r.code, r.out, cloned)
        assert cloned["code"] == 0, (prefix, c.err)
    assert outs["/refall"][0] == 0
    assert outs["/gitall"] == outs["/refall"]


# --------------------------------------------------------------------------
# leaving the root

def escape_paths(server):
    outside = server.root.parent / "outside.git"
    assert (outside / "git-daemon-export-ok").exists()
    return [
        "/../outside.git",
        "/%2e%2e/outside.git",
        "/%2E%2E/outside.git",
        "/.%2e/outside.git",
        "/..%2foutside.git",
        "/..%2Foutside.git",
        "/%2e%2e%2foutside.git",
        "/group/..%2f..%2foutside.git",
        "/group/%2e%2e/%2e%2e/outside.git",
        "/small.git/../../outside.git",
        "/group/sub/../../../outside.git",
        "/%2f" + str(outside).lstrip("/").replace("/", "%2f"),
        "/%2F" + str(outside).lstrip("/"),
        "/" + str(outside),
        "/small.git%00",
        "/small.git%2500",
    ]


def test_escape_paths_not_served(server):
    """Requests that try to leave the root (where an exported repository
    outside.git waits next to it). nginx normalises the URI before any
    location runs (it answers 404 or 400 itself), so the module answers as
    the reference does, and never 200 or 500."""
    failures = []
    for p in escape_paths(server):
        for suffix, method, headers, body in (
                (INFO_REFS, "GET", V2, None),
                ("/git-upload-pack", "POST", RPC, v2_request("ls-refs"))):
            res = both(server, method, p + suffix, headers, body)
            ref, mod = res["reference"], res["module"]
            if ref.status not in (400, 404):
                failures.append("reference %s %s -> %d"
                                % (method, p, ref.status))
            if mod.status in (200, 500) or mod.status != ref.status:
                failures.append("module %s %s -> %d (reference %d)"
                                % (method, p, mod.status, ref.status))
    assert failures == []


@pytest.mark.parametrize("path", ["escape.git", "updir/outside.git"])
def test_symlink_out_of_root_is_404(server, path):
    """DESIGN: symlinks pointing outside the root are 404. git http-backend
    follows them (asserted here so that the fixture is known to be an
    escape); the module must not."""
    ref = server.http("GET", "/ref/%s%s" % (path, INFO_REFS), V2)
    assert ref.status == 200
    mod = server.http("GET", "/git/%s%s" % (path, INFO_REFS), V2)
    assert mod.status == 404
    mod = server.http("POST", "/git/%s/git-upload-pack" % path, RPC,
                      v2_request("ls-refs"))
    assert mod.status == 404


# --------------------------------------------------------------------------
# services, methods, content types

def test_receive_pack_advertisement_forbidden(server):
    res = both(server, "GET", "/small.git/info/refs?service=git-receive-pack",
               V2)
    assert_refused_like_reference(res, 403)


def test_receive_pack_rpc_forbidden(server):
    res = both(server, "POST", "/small.git/git-receive-pack",
               {"Content-Type": "application/x-git-receive-pack-request"},
               b"0000")
    assert_refused_like_reference(res, 403)


def test_unknown_service_forbidden(server):
    res = both(server, "GET", "/small.git/info/refs?service=git-foo", V2)
    assert_refused_like_reference(res, 403)


METHOD_CASES = [
    ("PUT", INFO_REFS, "GET, HEAD"),
    ("DELETE", INFO_REFS, "GET, HEAD"),
    ("POST", INFO_REFS, "GET, HEAD"),
    ("PATCH", INFO_REFS, "GET, HEAD"),
    ("OPTIONS", INFO_REFS, "GET, HEAD"),
    ("GET", "/git-upload-pack", "POST"),
    ("HEAD", "/git-upload-pack", "POST"),
    ("PUT", "/git-upload-pack", "POST"),
    ("DELETE", "/git-upload-pack", "POST"),
]


@pytest.mark.parametrize("method,suffix,allow", METHOD_CASES,
                         ids=["%s %s" % c[:2] for c in METHOD_CASES])
def test_wrong_method_405(server, method, suffix, allow):
    body = b"" if method in ("PUT", "POST", "PATCH") else None
    headers = dict(V2)
    if method == "POST":
        headers["Content-Type"] = RPC_TYPE
    res = both(server, method, "/small.git" + suffix, headers, body)
    assert_refused_like_reference(res, 405)
    assert res["reference"].header("Allow") == allow
    assert res["module"].header("Allow") == allow


def test_head_advertisement(server):
    res = both(server, "HEAD", "/small.git" + INFO_REFS, V2)
    ref, mod = res["reference"], res["module"]
    assert ref.status == 200 and ref.body == b""
    assert mod.status == 200 and mod.body == b""
    assert mod.header("Content-Type") == ref.header("Content-Type")


@pytest.mark.parametrize("ctype", [None, "text/plain",
                                   "application/x-git-receive-pack-request",
                                   "application/x-git-upload-pack-request2"])
def test_wrong_content_type_415(server, ctype):
    headers = dict(V2)
    if ctype is not None:
        headers["Content-Type"] = ctype
    res = both(server, "POST", "/small.git/git-upload-pack", headers,
               v2_request("ls-refs"))
    assert_refused_like_reference(res, 415)


# --------------------------------------------------------------------------
# protocol versions other than 2


def v0_advertisement(body):
    """(lines before the first ref, [(oid, name)], capability set)"""
    items = parse_pkt_lines(body)
    head, refs, caps = [], [], None
    for it in items:
        if caps is None and (it in (FLUSH,) or not it[:40].strip(
                b"0123456789abcdef") == b""):
            head.append(it)
            continue
        line = it.rstrip(b"\n") if isinstance(it, bytes) else it
        if caps is None:
            line, _, capstr = line.partition(b"\0")
            caps = set(normalise_agent(capstr).split())
        refs.append(line)
    return head, refs, caps


def v0_acceptable(mod, ref):
    """The module must answer like the reference: same status, content
    type, lines before the refs, refs (and peeled tags) in the same order,
    and the same capabilities (the agent aside). Returns None when
    acceptable, else why not."""
    if mod.status != ref.status:
        return "status %d, reference %d" % (mod.status, ref.status)
    if mod.header("Content-Type") != ref.header("Content-Type"):
        return "content type %r" % mod.header("Content-Type")
    mh, mrefs, mcaps = v0_advertisement(mod.body)
    rh, rrefs, rcaps = v0_advertisement(ref.body)
    if (mh, mrefs) != (rh, rrefs):
        return "advertised refs differ:\n%r\n%r" % ((mh, mrefs), (rh, rrefs))
    if mcaps != rcaps:
        return "capabilities %r, expected %r" % (
            mcaps and sorted(mcaps), rcaps and sorted(rcaps))
    return None


@pytest.mark.parametrize("protocol", [None, "version=1", "version=0"])
def test_advertisement_without_v2(server, protocol):
    headers = {"Git-Protocol": protocol} if protocol else {}
    res = both(server, "GET", "/small.git" + INFO_REFS, headers)
    ref = res["reference"]
    assert ref.status == 200
    assert parse_pkt_lines(ref.body)[0] == b"# service=git-upload-pack\n"
    assert b"shallow" in ref.body
    why = v0_acceptable(res["module"], ref)
    assert why is None, why


@pytest.mark.parametrize("repo", ["empty.git", "hidden.git"])
def test_advertisement_v0_other_repositories(server, repo):
    res = both(server, "GET", "/%s%s" % (repo, INFO_REFS), {})
    assert res["reference"].status == 200
    why = v0_acceptable(res["module"], res["reference"])
    assert why is None, why


def test_v0_rpc(server, git):
    path = server.root / "small.git"
    want = git("rev-parse", "main", cwd=path)
    body = (b"%04x" % (4 + len("want %s ofs-delta\n" % want))
            + b"want %s ofs-delta\n" % want.encode() + b"0000"
            + b"0009done\n")
    res = both(server, "POST", "/small.git/git-upload-pack",
               {"Content-Type": RPC_TYPE}, body)
    ref, mod = res["reference"], res["module"]
    assert ref.status == 200
    assert ref.body.startswith(b"0008NAK\nPACK")
    assert mod.status == 200, mod.body
    assert mod.header("Content-Type") == ref.header("Content-Type")
    assert mod.body[:8] == b"0008NAK\n"


# --------------------------------------------------------------------------
# headers

def test_advertisement_headers(server):
    res = both(server, "GET", "/small.git" + INFO_REFS, V2)
    ref, mod = res["reference"], res["module"]
    assert ref.status == 200 and mod.status == 200, mod
    assert ref.header("Content-Type") == \
        "application/x-git-upload-pack-advertisement"
    assert mod.header("Content-Type") == ref.header("Content-Type")
    for name, value in NO_CACHE.items():
        assert ref.header(name) == value
        assert mod.header_all(name) == [value], name


def test_rpc_headers(server):
    res = both(server, "POST", "/small.git/git-upload-pack", RPC,
               v2_request("ls-refs"))
    ref, mod = res["reference"], res["module"]
    assert ref.status == 200 and mod.status == 200, mod
    assert ref.header("Content-Type") == "application/x-git-upload-pack-result"
    assert mod.header("Content-Type") == ref.header("Content-Type")
    for name, value in NO_CACHE.items():
        assert ref.header(name) == value
        assert mod.header_all(name) == [value], name


# Git-Protocol as git reads GIT_PROTOCOL (exact version=0|1|2 items, the
# highest wins), and of two headers the first, as git http-backend is given.
@pytest.mark.parametrize("headers", [
    {"Git-Protocol": "version=23"},
    {"Git-Protocol": "version=02"},
    {"Git-Protocol": "version=2:version=1"},
    {"Git-Protocol": "version=1:bogus"},
    {"Git-Protocol": "VERSION=2"},
    {"Git-Protocol": "version=1,version=2"},
    {"Git-Protocol": "version=1", "git-protocol": "version=2"},
    {"Git-Protocol": "version=2", "git-protocol": "version=0"},
], ids=["23", "02", "2:1", "1:bogus", "VERSION=2", "1,2", "1 then 2",
        "2 then 0"])
def test_git_protocol_header_read_like_reference(server, headers):
    res = both(server, "GET", "/small.git" + INFO_REFS, headers)
    ref, mod = res["reference"], res["module"]
    assert ref.status == 200 and mod.status == 200, mod
    if b"version 2\n" in parse_pkt_lines(ref.body)[:1]:
        assert [normalise_agent(x) for x in parse_pkt_lines(mod.body)] == \
            [normalise_agent(x) for x in parse_pkt_lines(ref.body)]
    else:
        assert b"version 2\n" not in mod.body
        why = v0_acceptable(mod, ref)
        assert why is None, why


# --------------------------------------------------------------------------
# conditional headers: nothing the module answers has a validator (no ETag,
# no Last-Modified), and git http-backend ignores them; nginx's not_modified
# filter would answer "If-None-Match: *" with a 304 without a body and any
# If-Unmodified-Since with a 412

CONDITIONAL = [
    {"If-None-Match": "*"},
    {"If-None-Match": '"abc"'},
    {"If-None-Match": 'W/"abc", *'},
    {"If-Match": "*"},
    {"If-Match": '"abc"'},
    {"If-Modified-Since": "Sun, 06 Nov 1994 08:49:37 GMT"},
    {"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"},
    {"If-Unmodified-Since": "Sun, 06 Nov 1994 08:49:37 GMT"},
    {"If-Unmodified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"},
    {"If-None-Match": "*", "If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"},
    {"If-Range": '"abc"', "Range": "bytes=0-3"},
]
CONDITIONAL_IDS = ["; ".join("%s: %s" % kv for kv in h.items())
                   for h in CONDITIONAL]


def conditional_requests(git, server):
    """(name, method, path, headers, body) of every kind of answer: the
    advertisement v0 and v2, ls-refs, a v2 fetch with its pack, a v0 fetch."""
    want = git("rev-parse", "main", cwd=server.root / "small.git")
    v0_fetch = (b"%04x" % (4 + len("want %s ofs-delta\n" % want))
                + b"want %s ofs-delta\n" % want.encode() + b"0000"
                + b"0009done\n")
    return [
        ("info/refs v0", "GET", "/small.git" + INFO_REFS, {}, None),
        ("info/refs v2", "GET", "/small.git" + INFO_REFS, V2, None),
        ("ls-refs", "POST", "/small.git/git-upload-pack", RPC,
         v2_request("ls-refs")),
        ("fetch v2", "POST", "/small.git/git-upload-pack", RPC,
         v2_request("fetch", ["want " + want, "ofs-delta", "no-progress",
                              "done"])),
        ("fetch v0", "POST", "/small.git/git-upload-pack",
         {"Content-Type": RPC_TYPE}, v0_fetch),
    ]


@pytest.mark.parametrize("conditional", CONDITIONAL, ids=CONDITIONAL_IDS)
def test_conditional_headers_answered_like_reference(server, git,
                                                     conditional):
    for name, method, path, headers, body in conditional_requests(git, server):
        plain = both(server, method, path, headers, body)
        res = both(server, method, path, dict(headers, **conditional), body)
        ref, mod = res["reference"], res["module"]

        def head(r):
            # up to the pack (and its first side-band header), whose deltas
            # git may choose differently
            h = r.body.split(b"PACK")[0]
            return normalise_agent(h[:-5] if h.endswith(b"\x01") else h)

        # git http-backend: a full answer, as without the header
        assert ref.status == 200, (name, ref.status)
        assert head(ref) == head(plain["reference"]), name
        assert mod.status == 200, (name, mod.status, mod.body[:200])
        assert mod.header("Content-Range") is None, name
        assert mod.body == plain["module"].body, name
        if name.startswith("fetch"):
            assert b"PACK" in ref.body and b"PACK" in mod.body, name


# --------------------------------------------------------------------------
# request bodies

@pytest.mark.parametrize("encoding", ["gzip", "x-gzip"])
def test_gzip_request_body(server, encoding):
    body = gzip_bytes(v2_request("ls-refs", ["peel", "symrefs", "unborn"]))
    headers = dict(RPC)
    headers["Content-Encoding"] = encoding
    res = both(server, "POST", "/small.git/git-upload-pack", headers, body)
    ref, mod = res["reference"], res["module"]
    assert ref.status == 200
    assert b"refs/heads/main" in ref.body
    assert mod.status == 200, mod
    assert normalise_agent(mod.body) == normalise_agent(ref.body)
    # and the same as without compression
    plain = server.http("POST", "/git/small.git/git-upload-pack", RPC,
                        v2_request("ls-refs", ["peel", "symrefs", "unborn"]))
    assert plain.body == mod.body


def test_gzip_fetch_request_body(server, git, tmp_path):
    want = git("rev-parse", "main", cwd=server.root / "small.git")
    body = gzip_bytes(v2_request("fetch", ["ofs-delta", "no-progress",
                                           "want " + want, "done"]))
    headers = dict(RPC)
    headers["Content-Encoding"] = "gzip"
    res = both(server, "POST", "/small.git/git-upload-pack", headers, body)
    ref_out = fetch_outcome(git, res["reference"], tmp_path / "r")
    assert ref_out[0] == "pack"
    assert fetch_outcome(git, res["module"], tmp_path / "m") == ref_out


HAVES = 6000


def test_large_request_body_buffered_to_file(server, git, tmp_path):
    """A fetch request with thousands of have lines (~300 KB), more than
    client_body_buffer_size: nginx writes the body to a temporary file
    (it says so in error.log at level warn), and the answer is the same
    as the reference's."""
    path = server.root / "small.git"
    want = git("rev-parse", "main", cwd=path)
    real_have = git("rev-parse", "main~4", cwd=path)
    fake = [hashlib.sha1(b"have %d" % i).hexdigest() for i in range(HAVES)]
    args = ["ofs-delta", "no-progress", "want " + want]
    args += ["have " + h for h in fake[:HAVES // 2]]
    args += ["have " + real_have]
    args += ["have " + h for h in fake[HAVES // 2:]]
    args += ["done"]
    body = v2_request("fetch", args)
    assert len(body) > 256 * 1024

    before = server.error_log_size()
    mod = server.http("POST", "/git/small.git/git-upload-pack", RPC, body)
    log = server.error_log(before)
    assert "a client request body is buffered to a temporary file" in log
    ref = server.http("POST", "/ref/small.git/git-upload-pack", RPC, body)
    ref_out = fetch_outcome(git, ref, tmp_path / "r")
    assert ref_out[0] == "pack"
    # the common commit was found among the haves: fewer objects than all
    everything = git("rev-list", "--objects", "main", cwd=path).splitlines()
    assert len(ref_out[2]) < len(everything)
    assert mod.status == 200, mod
    assert fetch_outcome(git, mod, tmp_path / "m") == ref_out


MALFORMED = {
    "unknown command": v2_request("bogus"),
    "unknown ls-refs argument": v2_request("ls-refs", ["bogus-arg"]),
    "not pkt-lines": b"garbage",
    "no command": v2_request("ls-refs")[len(b"0014command=ls-refs\n"):],
    "truncated pkt-line": b"0014command=ls-r",
}


@pytest.mark.parametrize("name", sorted(MALFORMED) + ["corrupt gzip"])
def test_malformed_request(server, name):
    """Requests no git client sends. git http-backend has sent its 200
    headers before upload-pack reads the request, so it answers 200 with an
    empty body (upload-pack dies); the module may do the same or answer 400
    (better), but never 500 nor something that looks like an answer."""
    headers = dict(RPC)
    if name == "corrupt gzip":
        body = gzip_bytes(v2_request("ls-refs"))[:-12] + b"garbage-----"
        headers["Content-Encoding"] = "gzip"
    else:
        body = MALFORMED[name]
    res = both(server, "POST", "/small.git/git-upload-pack", headers, body)
    ref, mod = res["reference"], res["module"]
    assert (ref.status, ref.body) == (200, b"")
    assert mod.status in (200, 400), mod
    if mod.status == 200:
        assert mod.body == b"", mod.body[:300]
