"""git_smart_http_metrics: the Prometheus text after a known sequence of
requests from real git clients, counters shared by the two workers and kept
across `nginx -s reload`, and a valid exposition (HELP and TYPE for every
family, histogram buckets monotone with +Inf equal to the count).

Its own nginx, so that the counts are those of this file's requests only.
"""

import os
import signal
import subprocess
import time

import pytest

import helpers
from helpers import Nginx
from prometheus import fetch_metrics, wait_for

HTTP = helpers.server_conf("""\
        location /git/ {
            git_smart_http on;
            git_smart_http_root {root};
        }
        location /push/ {
            git_smart_http on;
            git_smart_http_root {pushroot};
            git_smart_http_receive_pack on;
        }
        location = /metrics { git_smart_http_metrics; }
""")

REQ = "git_smart_http_requests_total"


@pytest.fixture(scope="module")
def metered(repos_root, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("metrics")
    pushroot = tmp / "pushroot"
    pushroot.mkdir()
    nginx = Nginx(tmp / "nginx", HTTP.replace("{root}", str(repos_root))
                  .replace("{pushroot}", str(pushroot)),
                  module=helpers.module_path(), worker_processes=2)
    nginx.pushroot = pushroot
    nginx.start()
    wait_for(nginx.port, lambda m: True, "an answer")
    yield nginx
    assert nginx.stop() == 0, nginx.read_error_log()[-5000:]


def workers(nginx):
    out = subprocess.run(["pgrep", "-P", str(nginx.proc.pid)],
                         stdout=subprocess.PIPE, text=True).stdout
    return set(int(p) for p in out.split())


def check_format(m):
    for family, kind in m.types.items():
        assert family.startswith("git_smart_http_")
        assert family in m.helps
        if kind == "counter":
            assert family.endswith("_total")
    buckets, total, count = m.histogram("git_smart_http_pack_seconds")
    les = [le for le, _ in buckets]
    assert les == sorted(les) and les[-1] == float("inf")
    counts = [c for _, c in buckets]
    assert counts == sorted(counts), "buckets are not cumulative"
    assert counts[-1] == count
    assert total >= 0


def test_counts_after_known_requests_and_reload(git, metered, repos_root,
                                                 tmp_path):
    port = metered.port
    url = "http://127.0.0.1:%d/git/small.git" % port
    small = repos_root / "small.git"
    objects = int(git("rev-list", "--objects", "--count", "--branches",
                      "--tags", cwd=small))
    m0 = fetch_metrics(port)
    check_format(m0)
    assert m0.samples.get((REQ, frozenset())) is None
    assert m0.get("git_smart_http_pack_seconds_count") == 0

    git("ls-remote", url)                                   # v2
    git("clone", "-q", "--bare", url, tmp_path / "v2.git")  # v2
    git("clone", "-q", "--bare", url, tmp_path / "v0.git", protocol=0)
    missing = metered.http("GET", "/git/nope.git/info/refs"
                           "?service=git-upload-pack")
    assert missing.status == 404

    # a worker counts a request in its log phase, after the response went
    # out, and leaves the in-flight gauges when the request's pool goes,
    # just after: another worker may answer /metrics between the two
    m = wait_for(port, lambda m: m.sum(REQ) >= 8 and
                 m.get("git_smart_http_requests_in_flight") == 0 and
                 m.get("git_smart_http_packs_in_flight") == 0,
                 "the 8 requests, none in flight")
    check_format(m)
    up = {"service": "upload-pack"}
    assert m.get(REQ, command="advertise", protocol="2", status="200",
                 **up) == 2
    assert m.get(REQ, command="ls-refs", protocol="2", status="200",
                 **up) == 2
    assert m.get(REQ, command="fetch", protocol="2", status="200", **up) == 1
    assert m.get(REQ, command="advertise", protocol="0", status="200",
                 **up) == 1
    assert m.get(REQ, command="fetch", protocol="0", status="200", **up) == 1
    assert m.get(REQ, command="advertise", protocol="0", status="404",
                 **up) == 1
    assert m.sum(REQ) == 8
    # two packs of every object of the branches and tags
    assert m.get("git_smart_http_pack_objects_total") == 2 * objects
    assert m.get("git_smart_http_pack_seconds_count") == 2
    assert m.get("git_smart_http_pack_bytes_total") > 0
    assert m.get("git_smart_http_response_bytes_total", command="fetch") > \
        m.get("git_smart_http_pack_bytes_total")
    assert m.get("git_smart_http_requests_queued") == 0
    assert m.get("git_smart_http_errors_total", kind="client_error") == 1
    assert m.sum("git_smart_http_errors_total") == 1

    # reload: new workers, the same counters
    old = workers(metered)
    os.kill(metered.proc.pid, signal.SIGHUP)
    for _ in range(1200):
        now = workers(metered)
        if now and not (now & old):
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the workers were not replaced")
    after = fetch_metrics(port)
    check_format(after)
    assert after.samples == {k: v for k, v in m.samples.items()}

    # and both new workers add to them
    for _ in range(4):
        git("ls-remote", url)
    final = wait_for(port, lambda m: m.get(
        REQ, command="ls-refs", protocol="2", status="200", **up) >= 6,
        "the four ls-refs")
    assert final.get(REQ, command="ls-refs", protocol="2", status="200",
                     **up) == 6
    assert final.get(REQ, command="advertise", protocol="2", status="200",
                     **up) == 6


def test_metrics_location_answers_get_only(metered):
    res = metered.http("POST", "/metrics", {}, b"x")
    assert res.status == 405
    res = metered.http("HEAD", "/metrics")
    assert res.status == 200 and res.body == b""


def test_refusals_before_a_session_are_counted_without_labels(metered):
    before = fetch_metrics(metered.port)
    res = metered.http("DELETE", "/git/small.git/info/refs",
                       {"Git-Protocol": "version=2"})
    assert res.status == 405
    after = fetch_metrics(metered.port)
    assert after.get(REQ, service="none", command="none", protocol="2",
                     status="405") == \
        before.get(REQ, service="none", command="none", protocol="2",
                   status="405") + 1


# Git-Protocol values as git reads them: only exact version=0|1|2 items
# count, the highest wins; with two headers, the first (what git
# http-backend is given as HTTP_GIT_PROTOCOL). The label, the answer and
# the session agree; before, the metrics read "version=23" as 2.
@pytest.mark.parametrize("headers,version", [
    ({"Git-Protocol": "version=23"}, 0),
    ({"Git-Protocol": "version=02"}, 0),
    ({"Git-Protocol": "version=2:version=1"}, 2),
    ({"Git-Protocol": "junk:version=1:x=y"}, 1),
    ({"Git-Protocol": "version=0", "git-protocol": "version=2"}, 0),
], ids=["version=23", "version=02", "2:1", "junk:1", "two headers"])
def test_protocol_label_is_read_as_git_reads_it(metered, headers, version):
    before = fetch_metrics(metered.port)
    res = metered.http("GET", "/git/small.git/info/refs?service=git-upload-pack",
                       headers)
    assert res.status == 200
    assert (b"version 2\n" in res.body) == (version == 2)
    assert (b"version 1\n" in res.body) == (version == 1)
    res = metered.http("DELETE", "/git/small.git/info/refs", headers)
    assert res.status == 405
    keys = [dict(command="advertise", protocol=str(version), status="200"),
            dict(command="none", protocol=str(version), status="405")]
    # counted in the log phase, after the client has the answer
    wait_for(metered.port,
             lambda m: all(m.sum(REQ, **k) == before.sum(REQ, **k) + 1
                           for k in keys),
             "both requests counted under protocol %d" % version)


def test_a_push_is_counted_but_not_as_pack_bytes(git, metered, repos_root,
                                                tmp_path):
    """A push is service="receive-pack"; the pack it brings is not in
    pack_bytes_total or pack_objects_total (those are packs made)."""
    port = metered.port
    target = metered.pushroot / "p.git"
    git("clone", "-q", "--bare", repos_root / "small.git", target)
    git("config", "http.receivepack", "true", cwd=target)
    (target / "git-daemon-export-ok").touch()
    work = tmp_path / "work"
    git("clone", "-q", repos_root / "small.git", work)
    (work / "pushed.txt").write_text("a pushed file\n")
    git("add", "pushed.txt", cwd=work)
    git("commit", "-q", "-m", "pushed", cwd=work)
    before = fetch_metrics(port)
    pushes = before.get(REQ, service="receive-pack", command="receive-pack",
                        protocol="0", status="200") or 0
    git("push", "-q", "http://127.0.0.1:%d/push/p.git" % port, "HEAD:main",
        cwd=work)
    assert git("rev-parse", "main", cwd=target) == \
        git("rev-parse", "HEAD", cwd=work)
    m = wait_for(port, lambda m: (m.get(
        REQ, service="receive-pack", command="receive-pack", protocol="0",
        status="200") or 0) == pushes + 1, "the push counted")
    assert m.get(REQ, service="receive-pack", command="advertise",
                 protocol="0", status="200") >= 1
    for family in ("git_smart_http_pack_bytes_total",
                   "git_smart_http_pack_objects_total",
                   "git_smart_http_pack_seconds_count"):
        assert m.get(family) == before.get(family), family
    assert m.get("git_smart_http_response_bytes_total",
                 command="receive-pack") > 0
