"""`make run` in a copy of the repository that has no ../shared beside it
(so no corpus) and no .git (as from a tarball): it serves, and the demo does
what the README shows: a clone, a partial clone that really filters, a push
with the printed user to the push-enabled repository behind auth_basic, the
metrics.

Reuses the build: the copy gets the working tree's files and this tree's
build/core, build/nginx and the module with their times kept, so its `make
all` finds them up to date; the test checks that `make run` compiled
nothing. A build from scratch is what `make run` does on a fresh clone
(minutes), not measured here."""

import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from conftest import MODULE_SO, TOP, free_port, make_env

READY_SECONDS = 180


def copy_tree(dest):
    """The files a checkout has (tracked, and untracked but not ignored),
    without .git, plus the built module and what make needs to see it up to
    date."""
    r = subprocess.run(["git", "-C", str(TOP), "ls-files", "-z", "-c", "-o",
                        "--exclude-standard"], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL)
    if r.returncode != 0:  # not a checkout (a tarball): all but build/
        shutil.copytree(TOP, dest, symlinks=True, dirs_exist_ok=True,
                        ignore=lambda d, names: ["build"] if Path(d) == TOP
                        else [])
        rels = []
    else:
        rels = filter(None, r.stdout.decode().split("\0"))
    for rel in rels:
        src = TOP / rel
        if not src.is_file():
            continue  # deleted in the work tree
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / rel, follow_symlinks=False)
    (dest / "build").mkdir()
    for sub in ("core", "nginx"):
        shutil.copytree(TOP / "build" / sub, dest / "build" / sub,
                        symlinks=True)
    shutil.copy2(TOP / "build" / MODULE_SO, dest / "build" / MODULE_SO)


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read().decode("utf-8", "replace")


def wait_until_serving(proc, log, url):
    """Polls url until it answers 200; fails at once if make run exits."""
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError("make run exited (%s):\n%s" % (
                proc.returncode, log.read_text()[-6000:]))
        try:
            if http_get(url, timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError("make run did not serve %s within %d s:\n%s" % (
        url, READY_SECONDS, log.read_text()[-6000:]))


def stop(proc):
    """make, nginx (in the foreground: TERM is its fast stop) and its
    workers are the process group of the session make run started."""
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 30)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        # the workers may still be exiting
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)


def git(env, *args, cwd=None, check=True):
    r = subprocess.run(["git"] + list(args), cwd=cwd, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=120)
    if check:
        assert r.returncode == 0, "git %s:\n%s%s" % (" ".join(args),
                                                     r.stdout, r.stderr)
    return r


def test_make_run_in_a_copy_without_shared(tmp_path, git_env):
    copy = tmp_path / "alone" / "git-smart-http"
    copy.mkdir(parents=True)
    copy_tree(copy)
    assert not (copy.parent.parent / "shared").exists()
    assert not (copy / ".git").exists()

    port = free_port()
    log = tmp_path / "make-run.log"
    with open(log, "a") as out:  # O_APPEND: nginx writes to it too
        proc = subprocess.Popen(["make", "run", "PORT=%d" % port],
                                cwd=str(copy), env=make_env(), stdout=out,
                                stderr=subprocess.STDOUT,
                                start_new_session=True)
    base = "http://127.0.0.1:%d" % port
    try:
        wait_until_serving(
            proc, log, base + "/git/sandbox.git/info/refs?service=git-upload-pack")
        text = log.read_text()
        assert not re.search(r"^\s*(CXX|CC)\s", text, re.M), \
            "make run compiled something:\n" + text
        assert "optional corpus bundle" in text, text
        assert str(copy / "build/demo/nginx.conf") in text, text
        assert str(copy / "build/demo/logs/error.log") in text, text
        m = re.search(r"user (\S+), password (\S+)", text)
        assert m, text
        user, password = m.groups()
        conf = (copy / "build/demo/nginx.conf").read_text()
        assert re.search(r"^error_log \S+ notice;$", conf, re.M), conf

        # a clone
        git(git_env, "clone", "-q", base + "/git/sandbox.git",
            str(tmp_path / "full"))

        # a partial clone: the server must allow the filter, and old
        # versions of the files stay on the server
        r = git(git_env, "clone", "--filter=blob:none",
                base + "/git/sandbox.git", str(tmp_path / "blobless"))
        assert "filtering not recognized" not in r.stderr, r.stderr
        missing = git(git_env, "rev-list", "--objects", "--all",
                      "--missing=print", cwd=tmp_path / "blobless").stdout
        assert re.search(r"^\?[0-9a-f]{40}$", missing, re.M), missing

        # a push needs the user: refused without, accepted with
        work = tmp_path / "push"
        push_url = "http://%s:%s@127.0.0.1:%d/push/sandbox.git" % (
            user, password, port)
        git(git_env, "clone", "-q", push_url, str(work))
        (work / "pushed.txt").write_text("pushed by the packaging test\n")
        git(git_env, "add", "pushed.txt", cwd=work)
        git(git_env, "commit", "-q", "-m", "packaging test", cwd=work)
        head = git(git_env, "rev-parse", "HEAD", cwd=work).stdout.strip()
        r = git(git_env, "push", base + "/push/sandbox.git", "HEAD:main",
                cwd=work, check=False)
        assert r.returncode != 0, r.stderr
        git(git_env, "push", "-q", "origin", "HEAD:main", cwd=work)
        refs = git(git_env, "ls-remote", base + "/git/sandbox.git",
                   "refs/heads/main").stdout
        assert refs.split()[0] == head, refs

        status, body = http_get(base + "/metrics")
        assert status == 200
        assert re.search(r'^git_smart_http_requests_total\{[^}]*'
                         r'command="receive-pack"[^}]*status="200"\} 1$',
                         body, re.M), body
    finally:
        stop(proc)
