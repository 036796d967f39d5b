"""session-id (transfer.advertiseSID) and server-option: the server's
session-id advertised as git advertises it (v2, and v0/v1 as a capability),
only when enabled; the client's session-id and server options accepted and
written to nginx's error log (info), where git writes them to trace2."""

import re

import pytest

from helpers import FLUSH, clone, normalise_agent, parse_pkt_lines, v2_request

INFO_REFS = "/info/refs?service=git-upload-pack"
RPC = {"Git-Protocol": "version=2",
       "Content-Type": "application/x-git-upload-pack-request"}
SID_RE = re.compile(rb"session-id=[^ \n]+")


def advert(server, prefix, repo, protocol):
    headers = {"Git-Protocol": protocol} if protocol else {}
    return server.http("GET", "%s/%s%s" % (prefix, repo, INFO_REFS), headers)


def neutral(data):
    return SID_RE.sub(b"session-id=X", normalise_agent(data))


@pytest.mark.parametrize("repo,advertised", [("v2extras.git", True),
                                             ("small.git", False)])
def test_v2_advertisement(server, repo, advertised):
    lines = {}
    for side, _, prefix in server.sides:
        resp = advert(server, prefix, repo, "version=2")
        assert resp.status == 200
        items = parse_pkt_lines(resp.body)
        sids = [it for it in items
                if isinstance(it, bytes) and it.startswith(b"session-id=")]
        assert len(sids) == (1 if advertised else 0), (side, items)
        for s in sids:
            assert re.fullmatch(rb"session-id=[!-~]+\n", s), s
        lines[side] = [neutral(it) if isinstance(it, bytes) else it
                       for it in items]
    assert lines["module"] == lines["reference"]


def v0_caps(body):
    items = parse_pkt_lines(body)
    assert items[1] == FLUSH
    first = items[3] if items[2] == b"version 1\n" else items[2]
    return sorted(neutral(first.rstrip(b"\n").partition(b"\0")[2]).split())


@pytest.mark.parametrize("protocol", [None, "version=1"])
@pytest.mark.parametrize("repo", ["v2extras.git", "small.git"])
def test_v0_advertisement(server, repo, protocol):
    caps = {side: v0_caps(advert(server, prefix, repo, protocol).body)
            for side, _, prefix in server.sides}
    assert (b"session-id=X" in caps["reference"]) == (repo == "v2extras.git")
    assert caps["module"] == caps["reference"]


def test_session_id_differs_per_request(server):
    sids = {SID_RE.search(advert(server, "/git", "v2extras.git",
                                 "version=2").body).group(0)
            for _ in range(3)}
    assert len(sids) == 3


@pytest.mark.parametrize("protocol", [2, 0])
def test_client_session_id_logged(git, server, tmp_path, protocol):
    offset = server.error_log_size()
    trace = tmp_path / "trace"
    # the client sends its own only with transfer.advertiseSID too
    cmp, r, _ = clone(git, "%s/v2extras.git" % server.module_url,
                      tmp_path / "m", "--bare", protocol=protocol,
                      env={"GIT_TRACE_PACKET": str(trace),
                           "GIT_CONFIG_COUNT": "1",
                           "GIT_CONFIG_KEY_0": "transfer.advertiseSID",
                           "GIT_CONFIG_VALUE_0": "true"})
    assert cmp["code"] == 0, r.err
    # what the client sent: a capability line (v2) or a feature (v0)
    sent = re.findall(r"> (?:want \S+ .*)?session-id=(\S+)",
                      trace.read_text(errors="replace"))
    assert sent, trace.read_text()[-3000:]
    log = server.error_log(offset)
    assert 'client session-id "%s"' % sent[0] in log, log[-3000:]


def test_server_options_logged(git, server, tmp_path):
    offset = server.error_log_size()
    res = {}
    for side, url, _ in server.sides:
        res[side] = git.run("ls-remote", "-o", "first", "-o", "two words",
                            "%s/small.git" % url)
    assert res["reference"].code == 0, res["reference"].err
    assert res["module"][:2] == res["reference"][:2]
    # again, now that the repository is cached: ls-refs is then answered
    # on the event loop, and logged all the same
    again = git.run("ls-remote", "-o", "first", "-o", "two words",
                    "%s/small.git" % server.module_url)
    assert again.code == 0, again.err
    log = server.error_log(offset)
    assert log.count('client server-option "first", server-option '
                     '"two words"') == 2, log[-3000:]


def test_session_id_not_advertised_is_refused(server):
    """git only accepts the capabilities it advertises: without
    transfer.advertiseSID it dies on a client's session-id."""
    body = v2_request("ls-refs", [], caps=("agent=git/2.39.5",
                                           "session-id=abc"))
    res = {name: server.http("POST", "%s/small.git/git-upload-pack" % prefix,
                             RPC, body)
           for name, _, prefix in server.sides}
    assert b"refs/heads/main" not in res["reference"].body
    assert res["module"].status == 400
    ok = server.http("POST", "/git/v2extras.git/git-upload-pack", RPC, body)
    assert ok.status == 200 and b"refs/heads/main" in ok.body


def test_session_id_has_a_request_number(server):
    """README: the server's session-id is git's with -S<n> appended, n a
    per-request sequence number of the worker."""
    for _ in range(3):
        sid = SID_RE.search(advert(server, "/git", "v2extras.git",
                                   "version=2").body).group(0)
        assert re.fullmatch(rb"session-id=[!-~]+-S[0-9]+\n?", sid), sid
