"""Hostile input (issue 5): requests no honest client sends. Each case gets
its status and, where the module answers it, a line in error.log naming the
repository and the reason; after every test nginx still serves a normal
ls-remote and error.log holds no alert, critical error or crash.

Status map of the issue: 400 malformed request, 404 not found / outside the
root, 413 too large (after gzip inflation), 414 for URIs nginx refuses
itself, 415 unsupported encoding, 500 only for server faults (logged).

The reference (git http-backend) has sent "200 OK" before upload-pack reads
the request, so it answers malformed requests with 200 and an empty or cut
body; the module checks the request first and answers 400. Those
differences are asserted below, so that a change on either side is seen.

Complements test_http.py (escape paths, 405/415/403, gzip bodies) and
test_limits.py (size, wants and haves limits on /gitlim/)."""

import hashlib
import os
import re
import socket
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from helpers import (FLUSH, clone, demux_sideband, fetch_outcome, gzip_bytes,
                     http_request, normalise_agent, on_both, pack_object_ids,
                     parse_pkt_lines, pkt, pkt_delim, pkt_flush, v2_request)

V2 = {"Git-Protocol": "version=2"}
RPC_TYPE = "application/x-git-upload-pack-request"
RPC = {"Git-Protocol": "version=2", "Content-Type": RPC_TYPE}
RPC_V0 = {"Content-Type": RPC_TYPE}
GZIP_RPC = dict(RPC, **{"Content-Encoding": "gzip"})
INFO_REFS = "/info/refs?service=git-upload-pack"

# Client-side hang guard for single requests (not a timing assertion).
HANG_GUARD = 300

# Lines that must never appear in error.log because of a request.
LOG_ALARMS = ("[alert]", "[crit]", "[emerg]", "exited on signal",
              "Sanitizer", "runtime error:", "segmentation fault")

# git_smart_http_max_request_size on /git/ (the default).
DEFAULT_REQUEST_LIMIT = 64 << 20


# --------------------------------------------------------------------------
# helpers

def rpc_path(prefix, repo):
    return "%s/%s/git-upload-pack" % (prefix, repo)


def post_both(server, repo, body, headers=RPC):
    """The same upload-pack request to the module and to the reference."""
    return {name: server.http("POST", rpc_path(prefix, repo), headers, body,
                              timeout=HANG_GUARD)
            for name, _, prefix in server.sides}


def get_both(server, path, headers=V2):
    return {name: server.http("GET", prefix + path, headers,
                              timeout=HANG_GUARD)
            for name, _, prefix in server.sides}


def rev_parse(git, server, repo, spec):
    return git("rev-parse", "--verify", spec, cwd=server.root / repo)


def v0_request(wants, haves=(), done=True,
               caps="multi_ack_detailed side-band-64k ofs-delta no-progress"):
    """A stateless v0 upload-pack request: wants (capabilities on the first),
    flush, haves, then done or (a negotiation round) a flush."""
    parts = [pkt("want %s %s\n" % (wants[0], caps))]
    parts += [pkt("want %s\n" % w) for w in wants[1:]]
    parts.append(pkt_flush())
    parts += [pkt("have %s\n" % h) for h in haves]
    parts.append(pkt("done\n") if done else pkt_flush())
    return b"".join(parts)


def v0_fetch_outcome(git, response, workdir):
    """What a v0 upload-pack response says, comparably: ("ERR", line),
    ("negotiation", lines) when no pack follows, or ("pack", negotiation
    lines, object ids)."""
    if response.status != 200 or not response.complete:
        return ("status", response.status, response.complete)
    items = parse_pkt_lines(response.body)
    negotiation = []
    for i, it in enumerate(items):
        if isinstance(it, bytes) and it.startswith(b"ERR "):
            return ("ERR", it)
        if isinstance(it, bytes) and it[:1] in (b"\x01", b"\x02", b"\x03"):
            pack, _, error = demux_sideband(items[i:])
            if error:
                return ("sideband error", error)
            return ("pack", negotiation,
                    pack_object_ids(git, pack, workdir))
        negotiation.append(it)
    return ("negotiation", negotiation)


def random_oids(count, seed):
    """count object ids that no repository has (SHA-1 of a counter)."""
    return [hashlib.sha1(b"%s %d" % (seed.encode(), i)).hexdigest()
            for i in range(count)]


def log_lines_since(server, offset):
    """error.log since offset, split on newlines only (not on the CR, FS or
    NEL that str.splitlines also takes for line ends)."""
    return server.error_log(offset).split("\n")


def module_log_lines(server, offset, repo, status):
    """error.log lines the module wrote since offset about repo with the
    HTTP status: 'git_smart_http: repository "<repo>": <status> <reason>'."""
    needle = 'git_smart_http: repository "%s": %d ' % (repo, status)
    return [l for l in log_lines_since(server, offset) if needle in l]


def assert_logged_with_reason(server, offset, repo, status):
    lines = module_log_lines(server, offset, repo, status)
    assert lines, ("no error.log line names repository %r with status %d:\n%s"
                   % (repo, status, server.error_log(offset)[-3000:]))
    for line in lines:
        reason = line.split('": %d ' % status, 1)[1].split(", client:")[0]
        assert reason.strip(), line


@pytest.fixture(autouse=True)
def nginx_still_serves(server, git):
    """After each test: a normal ls-remote through the module gives what the
    reference gives, and nothing alarming was logged during the test."""
    start = server.error_log_size()
    yield
    res = on_both(server, lambda url, _: git.run(
        "ls-remote", "--symref", url + "/small.git", timeout=120)[:2])
    assert res["reference"][0] == 0, res["reference"]
    assert res["module"] == res["reference"], \
        "nginx no longer serves a normal ls-remote"
    alarms = [l for l in log_lines_since(server, start)
              if any(m in l for m in LOG_ALARMS)]
    assert alarms == [], "error.log:\n" + "\n".join(alarms[:20])


# --------------------------------------------------------------------------
# fixtures made here: symbolic links in the root, many refs

@pytest.fixture(scope="module")
def root_links(server):
    """Symbolic links and git files in the root (made once, idempotent).
    Returns {kind: [relative repository paths]}:
      inside:  links that stay inside the root (served like their target,
               small.git or group/sub/project.git)
      outside: links and git files that lead to outside.git, next to the root
      broken:  dangling and looping links"""
    root = server.root
    outside = root.parent / "outside.git"
    assert (outside / "git-daemon-export-ok").exists()

    def link(name, target):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_symlink():
            path.symlink_to(target)

    link("alias.git", "small.git")
    link("abs-alias.git", root / "small.git")
    link("self", ".")
    link("linked-group", "group/sub")
    link("abs-escape.git", outside)
    link("chain.git", "escape.git")
    link("nest/out.git", "../../outside.git")
    link("dangling.git", "no-such-target.git")
    link("loop-a.git", "loop-b.git")
    link("loop-b.git", "loop-a.git")
    gitfile = root / "gitfile-escape"
    gitfile.mkdir(exist_ok=True)
    (gitfile / ".git").write_text("gitdir: %s\n" % outside)
    return {
        "inside": ["alias.git", "alias", "abs-alias.git", "self/small.git",
                   "self/self/small.git", "linked-group/project.git"],
        "outside": ["abs-escape.git", "chain.git", "nest/out.git",
                    "self/escape.git", "self/updir/outside.git",
                    "gitfile-escape", "updir%2foutside.git",
                    "self%2fescape.git"],
        "broken": ["dangling.git", "loop-a.git"],
    }


MANY_REFS = 5000


@pytest.fixture(scope="module")
def many_refs(server, git):
    """ROOT/manyrefs.git: a linear history of MANY_REFS commits (one file
    changed in each) and one branch b00001..b05000 on every commit, in
    packed-refs. Returns the branch tips, oldest first."""
    dest = server.root / "manyrefs.git"
    if not (dest / "packed-refs").exists():
        git("init", "-q", "--bare", "-b", "main", dest)
        stream = []
        for i in range(1, MANY_REFS + 1):
            data = b"file %d\n" % i
            msg = b"commit %d\n" % i
            stream.append(
                b"commit refs/heads/main\n"
                b"committer C <c@example.com> %d +0000\n"
                b"data %d\n%s"
                b"M 100644 inline f\ndata %d\n%s\n"
                % (1700000000 + i, len(msg), msg, len(data), data))
        git("fast-import", "--quiet", cwd=dest, input=b"".join(stream))
        oids = git("rev-list", "--reverse", "main", cwd=dest).split()
        (dest / "packed-refs").write_text(
            "# pack-refs with: peeled fully-peeled sorted \n" + "".join(
                "%s refs/heads/b%05d\n" % (o, i + 1)
                for i, o in enumerate(oids)))
        (dest / "git-daemon-export-ok").write_text("")
    tips = git("for-each-ref", "--format=%(objectname)", "refs/heads/b*",
               cwd=dest).split()
    assert len(tips) == MANY_REFS == len(set(tips))
    return tips


# --------------------------------------------------------------------------
# path traversal beyond test_http.py's escape paths

def traversal_paths(server):
    """URIs (after the location prefix) that try to reach outside.git, next
    to the root: dot segments, %2e, %2f, double encoding, backslashes and
    %5c, absolute paths, NUL, overlong UTF-8 for '.' and '/'."""
    outside = str(server.root.parent / "outside.git").lstrip("/")
    return [
        "/small.git/../../outside.git",
        "/group/sub/../../../outside.git",
        "/%2e%2e/%2e%2e/outside.git",
        "/group/%2e%2e%2f%2e%2e%2f..%2foutside.git",
        "/%252e%252e/outside.git",
        "/%252e%252e%252foutside.git",
        "/..%252foutside.git",
        "/%25%32%65%25%32%65/outside.git",
        "/..\\outside.git",
        "/..%5coutside.git",
        "/%5c..%5c..%5coutside.git",
        "/group\\..\\..\\outside.git",
        "//" + outside,
        "/%2f%2f" + outside.replace("/", "%2f"),
        "/" + outside.replace("/", "%5c"),
        "/%00../outside.git",
        "/outside.git%00",
        "/..%00/outside.git",
        "/%c0%ae%c0%ae/outside.git",
        "/%c0%ae%c0%ae%c0%afoutside.git",
        "/..%c0%afoutside.git",
        "/..%c1%9coutside.git",
        "/%e0%80%ae%e0%80%ae/outside.git",
        "/..%e0%80%afoutside.git",
        "/%f0%80%80%ae%f0%80%80%ae/outside.git",
    ]


def test_traversal_never_leaves_the_root(server, root_links):
    """Every form: the module answers 404 (or nginx answers 400 before any
    location runs, then for both sides alike), never 200 nor 500."""
    failures = []
    for p in traversal_paths(server):
        for method, suffix, headers, body in (
                ("GET", INFO_REFS, V2, None),
                ("POST", "/git-upload-pack", RPC, v2_request("ls-refs"))):
            res = {name: server.http(method, prefix + p + suffix, headers,
                                     body, timeout=HANG_GUARD)
                   for name, _, prefix in server.sides}
            mod, ref = res["module"], res["reference"]
            if mod.status not in (400, 404):
                failures.append("module %s %s -> %d" % (method, p, mod.status))
            if 400 in (mod.status, ref.status) and mod.status != ref.status:
                failures.append("%s %s: nginx's 400 only on one side "
                                "(module %d, reference %d)"
                                % (method, p, mod.status, ref.status))
            if ref.status not in (400, 404):
                failures.append("reference %s %s -> %d (the fixture should "
                                "not be reachable this way)"
                                % (method, p, ref.status))
    assert failures == []


ENCODED_INSIDE = ["/group%2fsub%2fproject.git", "/group/sub%2Fproject.git",
                  "/small%2egit", "/%2e/small.git", "/small.git/%2e",
                  "/small.git%2finfo"]


@pytest.mark.parametrize("path", ENCODED_INSIDE)
def test_encoded_dots_and_slashes_are_404(server, path):
    """DESIGN: encoded slashes or dots are 404 even when the decoded path
    names a repository inside the root. A deliberate difference: git
    http-backend gets the decoded PATH_INFO and serves it."""
    suffix = INFO_REFS if not path.endswith("%2finfo") else \
        "%2frefs?service=git-upload-pack"
    res = get_both(server, path + suffix)
    assert res["reference"].status == 200
    assert res["module"].status == 404, res["module"]
    if not path.endswith("%2finfo"):
        res = post_both(server, path.lstrip("/"), v2_request("ls-refs"))
        assert res["reference"].status == 200
        assert res["module"].status == 404, res["module"]


def test_symlinks_inside_the_root_are_served_like_their_target(
        server, root_links):
    """A repository that is a symbolic link to another one inside the root
    (relative or absolute, or reached through a linked folder) is served
    like its target, as by the reference."""
    for path in root_links["inside"]:
        target = "group/sub/project.git" if "group" in path else "small.git"
        expected = server.http("POST", rpc_path("/ref", target), RPC,
                               v2_request("ls-refs", ["peel", "symrefs"]))
        assert expected.status == 200
        res = post_both(server, path,
                        v2_request("ls-refs", ["peel", "symrefs"]))
        for side in ("reference", "module"):
            assert res[side].status == 200, (path, side, res[side])
            assert res[side].body == expected.body, (path, side)
        adv = get_both(server, "/" + path + INFO_REFS)
        assert adv["module"].status == 200, path
        assert normalise_agent(adv["module"].body) == normalise_agent(
            server.http("GET", "/git/%s%s" % (target, INFO_REFS), V2).body)


def test_symlinks_and_gitfiles_leading_outside_are_404(server, root_links):
    """Links (absolute, chained, in a subfolder, through a linked root, with
    an encoded slash) and a .git file whose gitdir is outside the root: 404
    from the module. The
    reference follows all of them (asserted, so that each fixture is known
    to be a real way out)."""
    for path in root_links["outside"]:
        res = get_both(server, "/" + path + INFO_REFS)
        assert res["reference"].status == 200, path
        assert res["module"].status == 404, (path, res["module"])
        res = post_both(server, path, v2_request("ls-refs"))
        assert res["reference"].status == 200, path
        assert res["module"].status == 404, (path, res["module"])


def test_broken_symlinks_are_404(server, root_links):
    for path in root_links["broken"]:
        res = get_both(server, "/" + path + INFO_REFS)
        assert res["reference"].status == 404, path
        assert res["module"].status == 404, (path, res["module"])


# --------------------------------------------------------------------------
# very long URIs

@pytest.mark.parametrize("size", [8 * 1024, 100 * 1024])
def test_very_long_uri_is_414(server, size):
    """Longer than large_client_header_buffers (4 8k by default): nginx
    answers 414 before any location runs, for both sides alike."""
    res = get_both(server, "/" + "a" * size + ".git" + INFO_REFS)
    assert res["reference"].status == 414
    assert res["module"].status == 414


@pytest.mark.parametrize("name", ["long component", "deep path"])
def test_long_repository_name_under_nginx_limit_is_404(server, name):
    """Names nginx accepts but the file system cannot hold: one component
    longer than NAME_MAX, a path longer than PATH_MAX. 404 like the
    reference, not 500."""
    path = "/" + "a" * 6000 + ".git" if name == "long component" else \
        "/" + "d/" * 3000 + "x.git"
    res = get_both(server, path + INFO_REFS)
    assert res["reference"].status == 404
    assert res["module"].status == 404, res["module"]
    res = post_both(server, path.lstrip("/"), v2_request("ls-refs"))
    assert res["reference"].status == 404
    assert res["module"].status == 404, res["module"]


def test_long_query_string_and_git_protocol_header(server):
    """A 7 KB query string and a Git-Protocol header of 6 KB of unknown
    keys: the advertisement is the reference's."""
    res = get_both(server, "/small.git" + INFO_REFS + "&x=" + "q" * 7000)
    assert res["reference"].status == res["module"].status == 200
    assert normalise_agent(res["module"].body) == normalise_agent(
        server.http("GET", "/git/small.git" + INFO_REFS, V2).body)
    res = get_both(server, "/small.git" + INFO_REFS,
                   {"Git-Protocol": "version=2" + ":k=v" * 1500})
    assert res["reference"].status == res["module"].status == 200
    assert res["reference"].body.startswith(b"000eversion 2\n")
    assert res["module"].body.startswith(b"000eversion 2\n")


# --------------------------------------------------------------------------
# malformed pkt-lines: 400, logged with the repository and the reason

def malformed_requests(want):
    """name -> (body, v2?). Every one is a malformed request (issue 5:
    bad pkt-line length, bad hex, unknown command, truncated body)."""
    cmd = pkt("command=ls-refs\n") + pkt_delim()
    w = "want " + want
    return {
        # lengths
        "v2 length fff1 (over 65520)": (
            cmd + b"fff1" + b"r" * (0xfff1 - 4) + pkt_flush(), True),
        "v2 length ffff": (cmd + b"ffff" + b"r" * (0xffff - 4) + pkt_flush(),
                           True),
        "v2 length 0003": (cmd + b"0003" + pkt_flush(), True),
        "v2 length 0004 (empty line)": (cmd + b"0004" + pkt_flush(), True),
        "v2 delim first": (pkt_delim() + v2_request("ls-refs"), True),
        "v2 0003 before command": (b"0003" + v2_request("ls-refs"), True),
        "v2 second delim in fetch": (
            pkt("command=fetch\n") + pkt_delim() + pkt(w + "\n")
            + pkt_delim() + pkt("done\n") + pkt_flush(), True),
        "v2 response-end in request": (cmd + b"0002", True),
        # hex
        "v2 non-hex length": (cmd + b"00zzref-prefix refs/\n" + pkt_flush(),
                              True),
        "v2 length with sign": (cmd + b"-01aref-prefix refs/heads/\n"
                                + pkt_flush(), True),
        "v2 length with space": (cmd + b" 01aref-prefix refs/heads/\n"
                                 + pkt_flush(), True),
        # truncated
        "v2 ends mid pkt-line": (cmd + b"0020ref-prefix r", True),
        "v2 ends mid length": (cmd + b"00", True),
        "v2 ls-refs without final flush": (cmd + pkt("peel\n"), True),
        "v2 fetch without final flush": (
            pkt("command=fetch\n") + pkt_delim() + pkt(w + "\n")
            + pkt("done\n"), True),
        "v2 no delim": (pkt("command=ls-refs\n") + pkt("peel\n")
                        + pkt_flush(), True),
        # content
        "v2 data after the flush": (v2_request("ls-refs") + b"garbage", True),
        "v2 two requests": (v2_request("ls-refs") * 2, True),
        "v2 two commands": (pkt("command=ls-refs\n") + pkt("command=fetch\n")
                            + pkt_delim() + pkt_flush(), True),
        "v2 unknown command": (v2_request("frobnicate"), True),
        "v2 empty command": (v2_request(""), True),
        "v2 unknown capability": (v2_request(
            "ls-refs", caps=("frobnicate=1", "object-format=sha1")), True),
        "v2 unknown object format": (v2_request(
            "ls-refs", caps=("object-format=sha256",)), True),
        "v2 fetch garbage argument": (v2_request("fetch", ["garbage", "done"]),
                                      True),
        "v2 want too short": (v2_request("fetch", ["want 1234", "done"]),
                              True),
        "v2 want not hex": (v2_request("fetch", ["want " + "z" * 40, "done"]),
                            True),
        "v2 have not hex": (v2_request("fetch", [w, "have " + "z" * 40,
                                                 "done"]), True),
        # v0
        "v0 garbage instead of want": (
            pkt("garbage\n") + pkt_flush() + pkt("done\n"), False),
        "v0 want too short": (pkt("want 1234\n") + pkt_flush()
                              + pkt("done\n"), False),
        "v0 length fff1": (pkt(w + " side-band-64k\n") + b"fff1"
                           + b"x" * (0xfff1 - 4) + pkt_flush()
                           + pkt("done\n"), False),
        "v0 length 0003": (pkt(w + " side-band-64k\n") + b"0003"
                           + pkt_flush() + pkt("done\n"), False),
        "v0 non-hex length": (b"00zz" + w.encode() + b"\n" + pkt_flush(),
                              False),
        "v0 ends mid want": (pkt(w + " side-band-64k\n")[:20], False),
        "v0 ends mid length": (pkt(w + " side-band-64k\n") + pkt_flush()
                               + b"00", False),
        "v0 ends mid have": (pkt(w + " side-band-64k\n") + pkt_flush()
                             + pkt("have " + want + "\n")[:20], False),
        "v0 have garbage": (pkt(w + "\n") + pkt_flush() + pkt("have xyz\n")
                            + pkt("done\n"), False),
    }


MALFORMED_NAMES = sorted(malformed_requests("0" * 40))


@pytest.mark.parametrize("name", MALFORMED_NAMES)
def test_malformed_request_is_400(server, git, name):
    body, v2 = malformed_requests(rev_parse(git, server, "small.git",
                                            "main"))[name]
    start = server.error_log_size()
    res = post_both(server, "small.git", body, RPC if v2 else RPC_V0)
    assert res["reference"].status == 200
    mod = res["module"]
    assert mod.status == 400, (mod.status, mod.body[:300])
    assert_logged_with_reason(server, start, "small.git", 400)


def well_formed_edge_requests(want):
    """Unusual but valid requests: name -> (body, v2?)."""
    longest = "ref-prefix refs/" + "x" * (0xfff0 - 4 - len(
        "ref-prefix refs/") - 1)
    return {
        "v2 longest pkt-line (65520)": (v2_request("ls-refs", [longest]),
                                        True),
        "v2 empty body": (b"", True),
        "v2 only a flush": (pkt_flush(), True),
        "v2 5000 ref prefixes": (v2_request("ls-refs", [
            "ref-prefix refs/heads/%d" % i for i in range(5000)]), True),
        "v2 upper-case want": (v2_request("fetch", [
            "no-progress", "want " + want.upper(), "done"]), True),
        "v0 empty body": (b"", False),
        "v0 only a flush": (pkt_flush(), False),
        "v0 wants without done": (v0_request([want], done=False), False),
        "v0 unknown capability": (v0_request(
            [want], caps="side-band-64k no-progress frobnicate"), False),
        "v0 data after done": (v0_request([want]) + b"garbage", False),
        "v0 delim after wants": (pkt("want %s side-band-64k\n" % want)
                                 + pkt_delim() + pkt_flush()
                                 + pkt("done\n"), False),
    }


@pytest.mark.parametrize("name", sorted(well_formed_edge_requests("0" * 40)))
def test_edge_requests_answered_like_reference(server, git, tmp_path, name):
    want = rev_parse(git, server, "small.git", "main")
    body, v2 = well_formed_edge_requests(want)[name]
    res = post_both(server, "small.git", body, RPC if v2 else RPC_V0)
    ref, mod = res["reference"], res["module"]
    assert ref.status == 200
    assert mod.status == 200, (mod.status, mod.body[:300])
    outcome = fetch_outcome if v2 else v0_fetch_outcome
    if ref.body.startswith(b"000dpackfile\n") or b"PACK" in ref.body[:64]:
        assert outcome(git, mod, tmp_path / "m") == \
            outcome(git, ref, tmp_path / "r")
    else:
        assert mod.body == ref.body


# --------------------------------------------------------------------------
# control characters and invalid UTF-8 in arguments

FORGED = "FORGED-LOG-LINE"
# Bytes a log line must not carry raw: C0 controls but tab, and DEL.
LOG_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

REF_PREFIXES = {
    "invalid UTF-8": b"ref-prefix refs/\xff\xfe\xc0\xaf\n",
    "overlong dots": b"ref-prefix refs/heads/\xc0\xae\xc0\xae\n",
    "control characters": b"ref-prefix refs/heads/\x1b[31m\r\x07\x08\n",
    "newline inside": b"ref-prefix refs/heads/\n" + FORGED.encode() + b"\n",
    "DEL and C1": b"ref-prefix refs/heads/\x7f\xc2\x85\xc2\x9b\n",
}


@pytest.mark.parametrize("name", sorted(REF_PREFIXES))
def test_odd_ref_prefix_answered_like_reference(server, name):
    body = v2_request("ls-refs", ["peel", REF_PREFIXES[name]])
    res = post_both(server, "small.git", body)
    assert res["reference"].status == 200
    assert res["module"].status == 200, res["module"]
    assert res["module"].body == res["reference"].body


@pytest.mark.parametrize("where", ["ref-prefix refs/heads/\0main",
                                   "ref-prefix refs/heads/main\0garbage"])
def test_nul_in_ref_prefix(server, where):
    """git reads the argument as a C string (up to the NUL); no ref name
    holds a NUL, so the module may also match nothing. Either way a
    well-formed ls-refs answer with no ref the reference does not list."""
    body = v2_request("ls-refs", [where.encode() + b"\n"])
    res = post_both(server, "small.git", body)
    ref, mod = res["reference"], res["module"]
    assert ref.status == 200 and b"refs/heads/main" in ref.body
    assert mod.status == 200, mod
    mod_lines = parse_pkt_lines(mod.body)
    assert mod_lines[-1] == FLUSH
    assert set(mod_lines) <= set(parse_pkt_lines(ref.body))


HOSTILE_LINES = {
    "want invalid UTF-8": lambda w: [b"want \xff\xfe" + b"a" * 38 + b"\n"],
    "want control characters": lambda w: [b"want \x1b[2J\x07\x08" + b"0" * 34
                                          + b"\n"],
    "want forged log line": lambda w: [
        b"want x\n2026/01/01 00:00:00 " + FORGED.encode() + b" 1#1: forged\n"],
    "want CR": lambda w: [b"want " + w.encode() + b"\r" + FORGED.encode()
                          + b"\n"],
    "want NUL": lambda w: [b"want " + w.encode() + b"\0" + FORGED.encode()
                           + b"\n"],
    "have control characters": lambda w: [b"want " + w.encode() + b"\n",
                                          b"have \x1b]0;title\x07\n"],
    "have invalid UTF-8": lambda w: [b"want " + w.encode() + b"\n",
                                     b"have \xc3\x28" + b"0" * 38 + b"\n"],
    "have forged log line": lambda w: [
        b"want " + w.encode() + b"\n",
        b"have 0\n" + FORGED.encode() + b" [error] forged\n"],
}


def assert_no_raw_client_bytes_in_log(server, offset):
    """The module may quote a client's line in error.log, but escaped: no raw
    control character, and no line of the log made by the client."""
    lines = log_lines_since(server, offset)
    raw_controls = [l for l in lines if LOG_CONTROL.search(l)]
    assert raw_controls == [], "raw control characters in error.log: %r" \
        % raw_controls[:3]
    forged = [l for l in lines if l.startswith(FORGED) or re.match(
        r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d " + FORGED, l)]
    assert forged == [], "a request wrote its own line into error.log: %r" \
        % forged[:3]


@pytest.mark.parametrize("name", sorted(HOSTILE_LINES))
@pytest.mark.parametrize("version", ["v2", "v0"])
def test_control_characters_in_lines_are_400_and_not_logged_raw(
        server, git, name, version):
    """want/have lines with invalid UTF-8, terminal escapes, CR, NUL or a
    newline followed by a forged log line: 400 (the reference's upload-pack
    dies: 200 without a body, or it reads the object id and ignores the
    rest). error.log names the repository and the reason, escaped."""
    want = rev_parse(git, server, "small.git", "main")
    if version == "v2":
        body = v2_request("fetch", ["no-progress"] + HOSTILE_LINES[name](want)
                          + ["done"])
    else:
        lines = HOSTILE_LINES[name](want)
        wants = [l for l in lines if l.startswith(b"want")]
        haves = [l for l in lines if l.startswith(b"have")]
        first = wants[0].rstrip(b"\n") + b" side-band-64k no-progress\n"
        body = b"".join([pkt(first)] + [pkt(l) for l in wants[1:]]
                        + [pkt_flush()] + [pkt(l) for l in haves]
                        + [pkt("done\n")])
    start = server.error_log_size()
    res = post_both(server, "small.git", body, RPC if version == "v2"
                    else RPC_V0)
    assert res["reference"].status == 200
    assert res["module"].status == 400, res["module"]
    assert_logged_with_reason(server, start, "small.git", 400)
    assert_no_raw_client_bytes_in_log(server, start)


@pytest.mark.parametrize("name", ["a%0a" + FORGED + ".git",
                                  "a%0d" + FORGED + ".git",
                                  "a%1b%5b2J%07.git"])
def test_control_characters_in_repository_name_not_logged_raw(server, name):
    """nginx decodes %0a, %0d, %1b in the URI: the repository name holds
    control characters. 404, and error.log gets them escaped. (The
    reference answers 500 for the newline: this harness's
    fastcgi_split_path_info regex does not match across it, so
    http-backend gets no PATH_INFO.)"""
    start = server.error_log_size()
    res = get_both(server, "/" + name + INFO_REFS)
    assert res["reference"].status == (500 if "%0a" in name else 404)
    assert res["module"].status == 404
    assert_no_raw_client_bytes_in_log(server, start)


def test_control_characters_in_command_are_400_and_not_logged_raw(server):
    body = pkt(b"command=ls-\x1b[2J\x07\n" + FORGED.encode() + b"\n") \
        + pkt_delim() + pkt_flush()
    start = server.error_log_size()
    res = post_both(server, "small.git", body)
    assert res["reference"].status == 200
    assert res["module"].status == 400, res["module"]
    assert_logged_with_reason(server, start, "small.git", 400)
    assert_no_raw_client_bytes_in_log(server, start)


# --------------------------------------------------------------------------
# gzip bodies: corrupt, truncated, endless

def gzip_bomb(inflated_size, unit):
    """A gzip member that inflates to inflated_size bytes of `unit`
    repeated, made chunk by chunk (the test process never holds it
    inflated)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = unit * max(1, (1 << 20) // len(unit))
    parts, made = [], 0
    while made < inflated_size:
        parts.append(comp.compress(block))
        made += len(block)
    parts.append(comp.flush())
    return b"".join(parts)


def valid_looking_bomb(inflated_size):
    """Starts like a well-formed ls-refs request and goes on with valid
    ref-prefix pkt-lines: a parser cannot stop it early, only the size
    limit can."""
    head = pkt("command=ls-refs\n") + pkt_delim()
    line = pkt("ref-prefix refs/heads/" + "b" * 980 + "\n")
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [comp.compress(head)]
    block = line * 1024
    made = len(head)
    while made < inflated_size:
        parts.append(comp.compress(block))
        made += len(block)
    parts.append(comp.flush())
    return b"".join(parts)


def corrupt_gzip_bodies():
    plain = v2_request("ls-refs", ["ref-prefix refs/heads/"])
    good = gzip_bytes(plain)
    return {
        "bad CRC": good[:-8] + struct.pack("<I", zlib.crc32(plain) ^ 1)
        + good[-4:],
        "bad length": good[:-4] + struct.pack("<I", len(plain) + 1),
        "bad deflate data": good[:10] + b"\xff" * 20 + good[-8:],
        "not gzip at all": plain,
        "truncated in the middle": good[:len(good) // 2],
        "truncated before the trailer": good[:-8],
        "only the header": good[:5],
        "empty": b"",
        "second member cut": gzip_bytes(plain[:10])
        + gzip_bytes(plain[10:])[:12],
    }


@pytest.mark.parametrize("name", sorted(corrupt_gzip_bodies()))
def test_corrupt_or_truncated_gzip_is_400(server, name):
    body = corrupt_gzip_bodies()[name]
    start = server.error_log_size()
    res = post_both(server, "small.git", body, GZIP_RPC)
    assert res["reference"].status == 200
    assert res["module"].status == 400, res["module"]
    assert_logged_with_reason(server, start, "small.git", 400)


def test_gzip_with_trailing_bytes_like_reference(server):
    """A complete gzip member followed by junk: git http-backend stops at
    the end of the member; the module too."""
    body = gzip_bytes(v2_request("ls-refs", ["ref-prefix refs/heads/"])) \
        + b"junk after the member"
    res = post_both(server, "small.git", body, GZIP_RPC)
    assert res["reference"].status == 200
    assert b"refs/heads/main" in res["reference"].body
    assert res["module"].status == 200
    assert res["module"].body == res["reference"].body


@pytest.mark.parametrize("encoding", ["deflate", "br", "compress",
                                      "gzip, gzip"])
def test_unsupported_content_encoding_is_415(server, encoding):
    """Only gzip (and x-gzip) request bodies are understood: anything else
    is 415 from the module. The reference ignores the header and reads
    the body as it is (asserted: it lists the refs of a plain body)."""
    body = v2_request("ls-refs", ["ref-prefix refs/heads/"])
    res = post_both(server, "small.git", body,
                    dict(RPC, **{"Content-Encoding": encoding}))
    if encoding != "deflate":
        assert b"refs/heads/main" in res["reference"].body
    assert res["module"].status == 415, res["module"]


def test_valid_looking_gzip_bomb_on_small_limit_is_413(server):
    """/gitlim/ (4k after inflation): 16 MiB of well-formed pkt-lines
    inflated, 413 from the module (the compressed body is under the
    location's client_max_body_size 64k), logged. (test_limits.py has a
    bomb of "0"s.)"""
    bomb = valid_looking_bomb(16 << 20)
    assert len(bomb) < 64 * 1024
    start = server.error_log_size()
    res = server.http("POST", rpc_path("/gitlim", "small.git"), GZIP_RPC,
                      bomb, timeout=HANG_GUARD)
    assert res.status == 413, res
    assert_logged_with_reason(server, start, "small.git", 413)


def nginx_worker_pids(server):
    master = int((server.nginx.prefix / "nginx.pid").read_text().split()[0])
    children = Path("/proc/%d/task/%d/children" % (master, master))
    pids = [int(p) for p in children.read_text().split()]
    assert pids, "no nginx worker found under master %d" % master
    return pids


def memory_kib(pid):
    """{"VmRSS": kB, "VmHWM": kB} of a process."""
    out = {}
    for line in Path("/proc/%d/status" % pid).read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


# How far above the request limit a worker's peak RSS may grow while a bomb
# is refused: room for zlib, nginx buffers and allocator slack, not for a
# second copy of the inflated data. Under AddressSanitizer (GSH_SANITIZE=1)
# freed memory stays in its quarantine (256 MiB by default) as well.
RSS_SLACK = (16 << 20) + ((256 << 20) if os.environ.get("GSH_SANITIZE") == "1"
                          else 0)


def test_gzip_bomb_on_default_limit_stops_at_the_limit(server):
    """/git/ (default git_smart_http_max_request_size 64m): a ~100 KB body
    that inflates to 100 MiB of valid-looking pkt-lines is refused with 413,
    and no worker's peak RSS (VmHWM, reset through clear_refs before the
    request) grows by more than the limit plus RSS_SLACK."""
    bomb = valid_looking_bomb(100 << 20)
    assert len(bomb) < 1 << 20
    workers = nginx_worker_pids(server)
    for pid in workers:
        # "5" resets the peak RSS to the current RSS (proc(5), Linux 4.0)
        Path("/proc/%d/clear_refs" % pid).write_text("5")
    before = {pid: memory_kib(pid) for pid in workers}
    for pid, m in before.items():
        assert m["VmHWM"] <= m["VmRSS"] + 1024, (pid, m)
    start = server.error_log_size()
    res = server.http("POST", rpc_path("/git", "small.git"), GZIP_RPC, bomb,
                      timeout=HANG_GUARD)
    after = {pid: memory_kib(pid) for pid in workers}
    assert res.status == 413, res
    assert_logged_with_reason(server, start, "small.git", 413)
    growth = {pid: (after[pid]["VmHWM"] - before[pid]["VmRSS"]) * 1024
              for pid in workers}
    report = ", ".join("worker %d: RSS %d KiB before, peak %d KiB during"
                       % (pid, before[pid]["VmRSS"], after[pid]["VmHWM"])
                       for pid in workers)
    assert max(growth.values()) <= DEFAULT_REQUEST_LIMIT + RSS_SLACK, report


# --------------------------------------------------------------------------
# thousands of wants and haves

def assert_same_fetch(git, tmp_path, res, outcome=fetch_outcome):
    ref_out = outcome(git, res["reference"], tmp_path / "reference")
    assert ref_out[0] == "pack", ref_out
    mod_out = outcome(git, res["module"], tmp_path / "module")
    assert mod_out == ref_out
    return ref_out


def test_v2_thousands_of_different_wants(server, git, tmp_path, many_refs):
    body = v2_request("fetch", ["ofs-delta", "no-progress"]
                      + ["want " + t for t in many_refs] + ["done"])
    out = assert_same_fetch(git, tmp_path, post_both(server, "manyrefs.git",
                                                     body))
    assert len(out[2]) == 3 * MANY_REFS


def test_v2_thousands_of_the_same_want(server, git, tmp_path, many_refs):
    body = v2_request("fetch", ["ofs-delta", "no-progress"]
                      + ["want " + many_refs[0]] * MANY_REFS + ["done"])
    out = assert_same_fetch(git, tmp_path, post_both(server, "manyrefs.git",
                                                     body))
    assert len(out[2]) == 3


def test_v0_thousands_of_different_wants(server, git, tmp_path, many_refs):
    body = v0_request(many_refs)
    out = assert_same_fetch(git, tmp_path, post_both(
        server, "manyrefs.git", body, RPC_V0), v0_fetch_outcome)
    assert len(out[2]) == 3 * MANY_REFS


HAVES = 50000


@pytest.mark.parametrize("done", ["done", "negotiation"])
def test_v2_tens_of_thousands_of_unknown_haves(server, git, tmp_path,
                                               many_refs, done):
    """50,000 haves the server does not have, around one it has: with done,
    the same pack as the reference; without, the same acknowledgments."""
    fake = random_oids(HAVES, "v2 have")
    haves = fake[:HAVES // 2] + [many_refs[MANY_REFS // 2]] + fake[HAVES // 2:]
    args = ["ofs-delta", "no-progress", "want " + many_refs[-1]]
    args += ["have " + h for h in haves]
    if done == "done":
        args.append("done")
    res = post_both(server, "manyrefs.git", v2_request("fetch", args))
    out = assert_same_fetch(git, tmp_path, res)
    assert len(out[2]) == 3 * (MANY_REFS - MANY_REFS // 2 - 1)
    if done == "negotiation":
        # the common commit is found and is enough: ACK, ready, the pack
        assert out[1][:3] == [b"acknowledgments\n", b"ACK %s\n"
                              % many_refs[MANY_REFS // 2].encode(),
                              b"ready\n"]


def test_v0_tens_of_thousands_of_unknown_haves(server, git, tmp_path,
                                               many_refs):
    body = v0_request([many_refs[-1]], random_oids(HAVES, "v0 have"))
    out = assert_same_fetch(git, tmp_path, post_both(
        server, "manyrefs.git", body, RPC_V0), v0_fetch_outcome)
    assert len(out[2]) == 3 * MANY_REFS


def test_v0_160k_made_up_wants_gzipped_refused_like_reference(server):
    """160,000 made-up wants in 0.44 MB of gzip (once half a minute of a
    thread): as git, the first want we lack ends the request, with the very
    ERR line of the reference."""
    wants = ["%040x" % i for i in range(1, 160001)]
    body = gzip_bytes(v0_request(wants))
    assert len(body) < 512 * 1024
    res = post_both(server, "small.git", body,
                    dict(RPC_V0, **{"Content-Encoding": "gzip"}))
    ref, mod = res["reference"], res["module"]
    assert ref.status == 200 and mod.status == 200, mod
    assert b"ERR upload-pack: not our ref " + wants[0].encode() in ref.body
    assert mod.body == ref.body


# --------------------------------------------------------------------------
# wants of hidden and unknown objects (v2 single wants: test_upload_pack_v2)

def hidden_tips(git, server):
    return [rev_parse(git, server, "hidden.git", r)
            for r in ("refs/hidden/secret", "refs/private/stuff")]


@pytest.mark.parametrize("kind", ["hidden tip", "private tip", "unknown"])
def test_v0_want_hidden_or_unknown_refused_like_reference(server, git, kind):
    """v0: a tip hidden by uploadpack.hideRefs / transfer.hideRefs, or an
    object that does not exist, next to a valid want: the very ERR bytes of
    the reference."""
    secret, private = hidden_tips(git, server)
    oid = {"hidden tip": secret, "private tip": private,
           "unknown": "2" * 40}[kind]
    main = rev_parse(git, server, "hidden.git", "main")
    for wants in ([oid], [main, oid]):
        res = post_both(server, "hidden.git", v0_request(wants), RPC_V0)
        assert res["reference"].body == pkt(
            "ERR upload-pack: not our ref %s" % oid)
        assert res["module"].status == 200
        assert res["module"].body == res["reference"].body


@pytest.mark.parametrize("repo", ["reachable.git", "anysha.git"])
def test_v0_want_hidden_tip_allowed_by_config(server, git, tmp_path, repo):
    """With uploadpack.allowReachableSHA1InWant / allowAnySHA1InWant the
    hidden tip is served in v0, the same objects as the reference."""
    oid = rev_parse(git, server, repo, "refs/hidden/secret")
    out = assert_same_fetch(git, tmp_path, post_both(
        server, repo, v0_request([oid]), RPC_V0), v0_fetch_outcome)
    assert oid in out[2]


def test_v2_hidden_tip_next_to_valid_want_refused(server, git):
    """v2: one hidden tip among valid wants refuses the whole request with
    the ERR line (no pack at all). Documented difference: git 2.39's v2
    upload-pack serves it (asserted)."""
    secret, _ = hidden_tips(git, server)
    main = rev_parse(git, server, "hidden.git", "main")
    body = v2_request("fetch", ["no-progress", "want " + main,
                                "want " + secret, "done"])
    res = post_both(server, "hidden.git", body)
    assert res["reference"].body.startswith(b"000dpackfile\n")
    assert res["module"].status == 200
    assert res["module"].body == pkt("ERR upload-pack: not our ref %s"
                                     % secret)


@pytest.mark.parametrize("version", ["v2", "v0"])
def test_have_of_hidden_tip_acknowledged_like_reference(server, git, version):
    """A have naming a hidden tip: git acknowledges any object it has (so a
    client can probe for hidden objects it already knows the id of); the
    module answers the same bytes."""
    secret, _ = hidden_tips(git, server)
    main = rev_parse(git, server, "hidden.git", "main")
    if version == "v2":
        res = post_both(server, "hidden.git", v2_request(
            "fetch", ["no-progress", "want " + main, "have " + secret]))
    else:
        res = post_both(server, "hidden.git", v0_request(
            [main], [secret], done=False), RPC_V0)
    assert b"ACK " + secret.encode() in res["reference"].body
    assert res["module"].body == res["reference"].body


# --------------------------------------------------------------------------
# server faults: 500 or a side-band message, always logged

@pytest.fixture(scope="module")
def faulty_repos(server, git):
    """badrefs.git: small.git with a corrupt packed-refs file;
    missingobj.git: small.git, loose, with one blob deleted."""
    root = server.root
    badrefs = root / "badrefs.git"
    if not badrefs.exists():
        git("clone", "-q", "--bare", "--no-local", root / "small.git",
            badrefs)
        git("pack-refs", "--all", cwd=badrefs)
        with open(badrefs / "packed-refs", "a") as f:
            f.write("garbage line\nxx refs/heads/zz\n")
        (badrefs / "git-daemon-export-ok").write_text("")
    missing = root / "missingobj.git"
    if not missing.exists():
        git("init", "-q", "--bare", "-b", "main", missing)
        git("push", "-q", missing, "refs/heads/*:refs/heads/*",
            cwd=root / "small.git")
        blob = git("rev-parse", "main~2:big.txt", cwd=missing)
        for pack in (missing / "objects" / "pack").glob("*.pack"):
            with open(pack, "rb") as f:
                git("unpack-objects", "-q", cwd=missing, input=f.read())
        for p in (missing / "objects" / "pack").glob("pack-*"):
            p.unlink()
        (missing / "objects" / blob[:2] / blob[2:]).unlink()
        (missing / "git-daemon-export-ok").write_text("")
    return {"badrefs": "badrefs.git", "missing": "missingobj.git"}


def test_corrupt_refs_are_500_and_logged(server, faulty_repos):
    """A repository whose packed-refs is corrupt is a server fault: 500,
    logged at [error] with the repository and the reason. (The reference
    answers 200 with an empty or cut ref list.)"""
    repo = faulty_repos["badrefs"]
    for method, path, headers, body in (
            ("POST", "/git-upload-pack", RPC, v2_request("ls-refs")),
            ("GET", INFO_REFS, {}, None)):
        start = server.error_log_size()
        res = {name: server.http(method, "%s/%s%s" % (prefix, repo, path),
                                 headers, body)
               for name, _, prefix in server.sides}
        assert res["reference"].status == 200
        assert res["module"].status == 500, (path, res["module"])
        lines = module_log_lines(server, start, repo, 500)
        assert lines and all("[error]" in l for l in lines), \
            server.error_log(start)


def test_missing_object_is_reported_to_the_client_and_logged(
        server, git, tmp_path, faulty_repos):
    """A wanted blob is missing from the repository: the clone fails on
    both sides, the git user sees a "remote:" message naming the object,
    and error.log names the repository and the object."""
    repo = faulty_repos["missing"]
    blob = git("rev-parse", "main~2:big.txt", cwd=server.root / "small.git")
    start = server.error_log_size()
    res = on_both(server, lambda url, side: clone(
        git, "%s/%s" % (url, repo), tmp_path / side, "--bare"))
    assert res["reference"][0]["code"] != 0
    mod_cmp, mod_run, _ = res["module"]
    assert mod_cmp["code"] != 0
    remote = [l for l in mod_run.err.splitlines() if l.startswith("remote:")]
    assert any(blob in l for l in remote), mod_run.err
    logged = [l for l in log_lines_since(server, start)
              if 'repository "%s"' % repo in l and blob in l]
    assert logged and all("[error]" in l for l in logged), \
        server.error_log(start)


def loose_copy_with_truncated(git, root, name, spec):
    """ROOT/name: small.git with every object loose and the one spec names
    cut to half its file, as a crashed writer or a full disk leaves it.
    Returns the object's id."""
    dest = root / name
    obj = git("rev-parse", spec, cwd=root / "small.git")
    if not dest.exists():
        git("init", "-q", "--bare", "-b", "main", dest)
        git("push", "-q", dest, "refs/heads/*:refs/heads/*",
            cwd=root / "small.git")
        for pack in (dest / "objects" / "pack").glob("*.pack"):
            with open(pack, "rb") as f:
                git("unpack-objects", "-q", cwd=dest, input=f.read())
        for p in (dest / "objects" / "pack").glob("pack-*"):
            p.unlink()
        path = dest / "objects" / obj[:2] / obj[2:]
        path.chmod(0o644)
        with open(path, "r+b") as f:
            f.truncate(path.stat().st_size // 2)
        (dest / "git-daemon-export-ok").write_text("")
    return obj


@pytest.mark.parametrize("kind,spec", [("blob", "main~2:big.txt"),
                                       ("commit", "main~1")])
def test_truncated_loose_object_is_an_error_not_a_hang(
        server, git, tmp_path, kind, spec):
    """A loose object cut off in its compressed data (libgit2's own loose
    reader spins forever on it): the clone fails on both sides, the git
    user sees a "remote:" line naming the object as corrupt, the request
    ends, and the worker goes on serving."""
    repo = "truncated-%s.git" % kind
    obj = loose_copy_with_truncated(git, server.root, repo, spec)
    start = server.error_log_size()
    res = on_both(server, lambda url, side: clone(
        git, "%s/%s" % (url, repo), tmp_path / side, "--bare"))
    ref_cmp, ref_run, _ = res["reference"]
    assert ref_cmp["code"] != 0
    assert obj in ref_run.err, ref_run.err
    mod_cmp, mod_run, _ = res["module"]
    assert mod_cmp["code"] != 0
    remote = [l for l in mod_run.err.splitlines() if l.startswith("remote:")]
    assert any("loose object %s is corrupt" % obj in l for l in remote), \
        mod_run.err
    logged = [l for l in log_lines_since(server, start)
              if 'repository "%s"' % repo in l and obj in l]
    assert logged and all("[error]" in l for l in logged), \
        server.error_log(start)
    # Both workers still serve a whole clone.
    for i in range(4):
        ok, run, _ = clone(git, "%s/small.git" % server.module_url,
                           tmp_path / ("after%d" % i), "--bare")
        assert ok["code"] == 0, run.err


# --------------------------------------------------------------------------
# concurrency: hostile and normal requests at once

def open_stalled_upload(server, prefix="/git"):
    """A connection that announces a 1 MB body, sends 10 bytes and waits."""
    s = socket.create_connection(("127.0.0.1", server.port), timeout=60)
    s.sendall(b"POST %s/small.git/git-upload-pack HTTP/1.1\r\n"
              b"Host: 127.0.0.1\r\nGit-Protocol: version=2\r\n"
              b"Content-Type: %s\r\nContent-Length: 1048576\r\n\r\n"
              b"0014comman" % (prefix.encode(), RPC_TYPE.encode()))
    return s


def disconnect_mid_body(server):
    s = open_stalled_upload(server)
    s.close()
    return None


def test_parallel_hostile_and_normal_requests(server, git, tmp_path,
                                              many_refs):
    """50 requests at once (and 6 connections that stall in their request
    body): every normal request gets the reference's answer, every hostile
    one its status."""
    main = rev_parse(git, server, "small.git", "main")
    ls_refs = v2_request("ls-refs", ["peel", "symrefs"])
    fetch_v2 = v2_request("fetch", ["ofs-delta", "no-progress",
                                    "want " + main, "done"])
    fetch_v0 = v0_request([main])
    expected = {
        "ls-refs": server.http("POST", rpc_path("/ref", "small.git"), RPC,
                               ls_refs).body,
        "fetch v2": fetch_outcome(git, server.http(
            "POST", rpc_path("/ref", "small.git"), RPC, fetch_v2),
            tmp_path / "expected-v2"),
        "fetch v0": v0_fetch_outcome(git, server.http(
            "POST", rpc_path("/ref", "small.git"), RPC_V0, fetch_v0),
            tmp_path / "expected-v0"),
    }
    assert expected["fetch v2"][0] == expected["fetch v0"][0] == "pack"
    ref_clone, r, _ = clone(git, server.ref_url + "/small.git",
                            tmp_path / "ref-clone", "--bare")
    assert ref_clone["code"] == 0, r.err

    def request(method, path, headers=None, body=None):
        return lambda: http_request(server.port, method, path, headers, body,
                                    timeout=HANG_GUARD)

    malformed = malformed_requests(main)
    hostile = [  # (name, job, expected status)
        ("escape symlink", request("GET", "/git/escape.git" + INFO_REFS, V2),
         404),
        ("%2e%2e", request("GET", "/git/%2e%2e/outside.git" + INFO_REFS, V2),
         404),
        ("NUL", request("GET", "/git/small.git%00" + INFO_REFS, V2), 400),
        ("encoded slash", request(
            "GET", "/git/group%2fsub%2fproject.git" + INFO_REFS, V2), 404),
        ("long URI", request("GET", "/git/" + "a" * 9000 + INFO_REFS, V2),
         414),
        ("long URI 2", request("GET", "/git/" + "b" * 20000, V2), 414),
    ]
    for name in ("v2 non-hex length", "v2 length fff1 (over 65520)",
                 "v2 ends mid pkt-line", "v2 unknown command",
                 "v0 garbage instead of want", "v0 ends mid have"):
        body, v2 = malformed[name]
        hostile.append((name, request("POST", rpc_path("/git", "small.git"),
                                      RPC if v2 else RPC_V0, body), 400))
    bomb = gzip_bomb(8 << 20, b"0")
    for i in range(4):
        hostile.append(("bomb %d" % i, request(
            "POST", rpc_path("/gitlim", "small.git"), GZIP_RPC, bomb), 413))
    corrupt = corrupt_gzip_bodies()
    for name in ("bad CRC", "truncated in the middle"):
        hostile.append(("gzip " + name, request(
            "POST", rpc_path("/git", "small.git"), GZIP_RPC, corrupt[name]),
            400))
    many_wants = v2_request("fetch", ["ofs-delta", "no-progress"]
                            + ["want " + t for t in many_refs] + ["done"])
    for i in range(3):
        hostile.append(("5000 wants %d" % i, request(
            "POST", rpc_path("/git", "manyrefs.git"), RPC, many_wants), 200))
    hostile.append(("50000 haves", request(
        "POST", rpc_path("/git", "small.git"), RPC, v2_request(
            "fetch", ["no-progress", "want " + main]
            + ["have " + h for h in random_oids(HAVES, "parallel")]
            + ["done"])), 200))
    secret, _ = hidden_tips(git, server)
    small_tips = git("rev-list", "--max-count=3", "--all",
                     cwd=server.root / "small.git").split()
    for i in range(2):
        hostile.append(("hidden tip %d" % i, request(
            "POST", rpc_path("/git", "hidden.git"), RPC,
            v2_request("fetch", ["want " + secret, "done"])), 200))
        hostile.append(("too many wants %d" % i, request(
            "POST", rpc_path("/gitlim", "small.git"), RPC,
            v2_request("fetch", ["want " + t for t in small_tips]
                       + ["done"])), 200))
    for i in range(4):
        hostile.append(("disconnect %d" % i,
                        lambda: disconnect_mid_body(server), None))

    normal = []  # (kind, job)
    for i in range(8):
        normal.append(("ls-refs", request(
            "POST", rpc_path("/git", "small.git"), RPC, ls_refs)))
    for i in range(6):
        normal.append(("fetch v2", request(
            "POST", rpc_path("/git", "small.git"), RPC, fetch_v2)))
    for i in range(2):
        normal.append(("fetch v0", request(
            "POST", rpc_path("/git", "small.git"), RPC_V0, fetch_v0)))
    for i in range(4):
        dest = tmp_path / ("clone-%d" % i)
        normal.append(("clone", lambda dest=dest: clone(
            git, server.module_url + "/small.git", dest, "--bare")))
    assert len(hostile) + len(normal) == 50

    stalled = [open_stalled_upload(server) for _ in range(6)]
    try:
        jobs = [job for _, job, _ in hostile] + [job for _, job in normal]
        with ThreadPoolExecutor(len(jobs)) as pool:
            futures = [pool.submit(job) for job in jobs]
            results = [f.result() for f in futures]
    finally:
        for s in stalled:
            s.close()

    hostile_results = results[:len(hostile)]
    failures = []
    for (name, _, status), resp in zip(hostile, hostile_results):
        if status is None:
            continue
        if resp.status != status:
            failures.append("%s: %d, expected %d" % (name, resp.status,
                                                     status))
        elif name.startswith("hidden tip"):
            if resp.body != pkt("ERR upload-pack: not our ref %s" % secret):
                failures.append("%s: %r" % (name, resp.body[:100]))
        elif name.startswith("too many wants"):
            if b"ERR upload-pack: too many wants" not in resp.body:
                failures.append("%s: %r" % (name, resp.body[:100]))
        elif status == 200 and not resp.complete:
            failures.append("%s: response cut" % name)
    for i, ((kind, _), result) in enumerate(zip(
            normal, results[len(hostile):])):
        work = tmp_path / ("check-%d" % i)
        if kind == "ls-refs":
            ok = result.status == 200 and result.body == expected[kind]
        elif kind == "fetch v2":
            ok = fetch_outcome(git, result, work) == expected[kind]
        elif kind == "fetch v0":
            ok = v0_fetch_outcome(git, result, work) == expected[kind]
        else:
            ok = result[0] == ref_clone
        if not ok:
            failures.append("normal %s #%d failed: %r" % (kind, i, (
                result[1].err if kind == "clone" else result.status)))
    assert failures == []
