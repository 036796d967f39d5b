"""Per-phase timings: the $git_time_<phase> log variables checked against
the requests that left them (which phases a clone, a fetch with haves,
ls-refs and a push went through, and that they fit in $request_time), and
the git_smart_http_phase_seconds histogram.

Module-specific: nothing to compare with git http-backend here. No timing
assertion: a phase is a number or "-", and the numbers add up to no more
than the request took.
"""

import os

import pytest

import helpers
from helpers import Nginx
from prometheus import fetch_metrics

pytestmark = pytest.mark.skipif(
    os.environ.get("GSH_SELF_CHECK") == "1",
    reason="the $git_time_* variables are the module's own")

PHASES = ("parse", "negotiate", "count", "plan", "write", "receive", "index",
          "check", "refs", "hooks")
UPLOAD = ("parse", "negotiate", "count", "plan", "write")
PUSH = ("receive", "index", "check", "refs", "hooks")
FIELDS = ("method", "uri", "command", "request_time", "note") + PHASES

LOG_FORMAT = "|".join(("$request_method", "$request_uri", "$git_command",
                       "$request_time", "$git_client_note")
                      + tuple("$git_time_" + p for p in PHASES))

HTTP_BODY = """
    log_format phases '%s';
    client_max_body_size 100m;
    server {
        listen 127.0.0.1:{port};
        access_log {log} phases;
        location / { return 404; }
        location /git/ {
            git_smart_http on;
            git_smart_http_root {root};
            git_smart_http_export_all on;
            git_smart_http_receive_pack on;
        }
        location /hooks/ {
            git_smart_http on;
            git_smart_http_root {root};
            git_smart_http_export_all on;
            git_smart_http_receive_pack on;
            git_smart_http_hooks on;
        }
        location = /metrics { access_log off; git_smart_http_metrics; }
    }
""" % LOG_FORMAT


class PhaseServer:
    def __init__(self, nginx, log_path, root):
        self.nginx = nginx
        self.log_path = log_path
        self.root = root
        self.port = nginx.port
        self.base = "http://127.0.0.1:%d" % self.port

    def lines_since(self, mark, count):
        lines = helpers.wait_log_lines(self.log_path, mark, count)
        return [dict(zip(FIELDS, l.split("|"))) for l in lines]

    def mark(self):
        return helpers.serving.size_of(self.log_path)


@pytest.fixture(scope="module")
def phasesrv(git, session_tmp):
    root = session_tmp / "phases-root"
    work = session_tmp / "phases-work"
    git("init", "-q", "-b", "main", work)
    for i in range(3):
        (work / ("f%d.txt" % i)).write_text("content %d\n" % i * 50)
        git("add", ".", cwd=work)
        git("commit", "-q", "-m", "commit %d" % i, cwd=work)
    for name in ("repo.git", "hooked.git"):
        git("clone", "-q", "--bare", work, root / name)
        # anonymous pushes, as git http-backend allows them
        git("config", "http.receivepack", "true", cwd=root / name)
        git("config", "transfer.advertiseSID", "true", cwd=root / name)
    hook = root / "hooked.git" / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\ncat >/dev/null\nexit 0\n")
    hook.chmod(0o755)
    prefix = session_tmp / "nginx-phases"
    log_path = prefix / "logs" / "git.log"
    body = HTTP_BODY.replace("{root}", str(root)) \
        .replace("{log}", str(log_path))
    nginx = Nginx(prefix, body, module=helpers.module_path())
    nginx.start()
    assert nginx.http("GET", "/nowhere").status == 404
    srv = PhaseServer(nginx, log_path, root)
    srv.lines_since(0, 1)
    yield srv
    assert nginx.stop() == 0


def check_consistent(line):
    """Every phase is a number >= 0 or "-", and together they fit in the
    request's time (nginx's $request_time has millisecond resolution)."""
    total = 0.0
    for p in PHASES:
        if line[p] != "-":
            value = float(line[p])
            assert value >= 0, line
            total += value
    assert total <= float(line["request_time"]) + 0.01, line


def known(line, phases):
    return {p for p in phases if line[p] != "-"}


def test_clone_has_parse_count_plan_write(git, phasesrv, tmp_path):
    mark = phasesrv.mark()
    r = git.run("-c", "transfer.advertiseSID=true", "clone", "-q",
                phasesrv.base + "/git/repo.git", tmp_path / "c")
    assert r.code == 0, r.err
    advert, ls, fetch = phasesrv.lines_since(mark, 3)
    assert [l["command"] for l in (advert, ls, fetch)] == [
        "advertise", "ls-refs", "fetch"]
    for l in (advert, ls, fetch):
        check_consistent(l)
    # the advertisement parses nothing; ls-refs makes no pack
    assert known(advert, PHASES) == set()
    assert known(ls, PHASES) == {"parse"}
    # a clone has no haves: nothing to negotiate; no push phase
    assert known(fetch, PHASES) == {"parse", "count", "plan", "write"}
    # the client's session-id is in the line, to trace a slow request
    # (nginx's log escapes its quotes)
    assert fetch["note"].startswith("session-id \\x22"), fetch["note"]


def test_fetch_with_haves_negotiates(git, phasesrv, tmp_path):
    clone = tmp_path / "c"
    r = git.run("clone", "-q", phasesrv.base + "/git/repo.git", clone)
    assert r.code == 0, r.err
    # a new commit on the server, by a push of its own
    other = tmp_path / "other"
    git("clone", "-q", phasesrv.root / "repo.git", other)
    (other / "new.txt").write_text("new\n")
    git("add", "new.txt", cwd=other)
    git("commit", "-q", "-m", "new", cwd=other)
    git("push", "-q", "origin", "main", cwd=other)
    mark = phasesrv.mark()
    r = git.run("fetch", "-q", "origin", cwd=clone)
    assert r.code == 0, r.err
    lines = phasesrv.lines_since(mark, 3)
    fetches = [l for l in lines if l["command"] == "fetch"]
    assert fetches
    for l in lines:
        check_consistent(l)
    last = fetches[-1]
    assert {"parse", "negotiate", "count", "plan", "write"} <= known(
        last, PHASES)
    assert known(last, PUSH) == set()


def push_new_commit(git, phasesrv, tmp_path, location, repo):
    work = tmp_path / "push"
    git("clone", "-q", phasesrv.root / repo, work)
    (work / "pushed.txt").write_text("pushed %s\n" % location * 20)
    git("add", "pushed.txt", cwd=work)
    git("commit", "-q", "-m", "pushed", cwd=work)
    mark = phasesrv.mark()
    r = git.run("push", "-q", "%s/%s/%s" % (phasesrv.base, location, repo),
                "main", cwd=work)
    assert r.code == 0, r.err
    lines = phasesrv.lines_since(mark, 2)
    (push,) = [l for l in lines if l["command"] == "receive-pack"]
    for l in lines:
        check_consistent(l)
    return push


def test_push_without_hooks(git, phasesrv, tmp_path):
    # hooked.git has a pre-receive hook, but hooks are off in /git/
    push = push_new_commit(git, phasesrv, tmp_path, "git", "hooked.git")
    assert known(push, PHASES) == {"parse", "receive", "index", "check",
                                   "refs"}


def test_push_with_hooks(git, phasesrv, tmp_path):
    push = push_new_commit(git, phasesrv, tmp_path, "hooks", "hooked.git")
    assert known(push, PHASES) == {"parse", "receive", "index", "check",
                                   "refs", "hooks"}


def test_phase_histogram(git, phasesrv, tmp_path):
    r = git.run("clone", "-q", phasesrv.base + "/git/repo.git",
                tmp_path / "c")
    assert r.code == 0, r.err
    push_new_commit(git, phasesrv, tmp_path, "git", "repo.git")
    m = fetch_metrics(phasesrv.port)
    name = "git_smart_http_phase_seconds"
    assert m.types[name] == "histogram"
    assert m.get(name + "_count", phase="count", service="upload-pack",
                 command="fetch") >= 1
    assert m.get(name + "_count", phase="index", service="receive-pack",
                 command="receive-pack") >= 1
    # a clone negotiates nothing, so no series says it did for ls-refs
    assert m.get(name + "_count", phase="count", service="upload-pack",
                 command="ls-refs") == 0
    inf = m.get(name + "_bucket", phase="write", service="upload-pack",
                command="fetch", le="+Inf")
    assert inf == m.get(name + "_count", phase="write",
                        service="upload-pack", command="fetch") >= 1
