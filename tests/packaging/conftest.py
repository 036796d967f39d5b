"""Helpers of the packaging tests (tests/packaging/, run by `make
packaging-test`, part of the plain `make test`): the project's make called
as a user would call it, and `nginx -t` of a configuration that loads the
module from a temporary root."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

TOP = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(TOP / "tests" / "lib"))

from git_env import clean_git_env  # noqa: E402

NGINX = os.environ.get("GSH_NGINX", "/usr/sbin/nginx")
MODULE_SO = "ngx_http_git_smart_http_module.so"
MODULE_CONF = "mod-http-git-smart-http.conf"
CONF_LINE = "load_module modules/%s;\n" % MODULE_SO
TEMPS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def make_env():
    """The environment for a make of our own: without the make that runs
    the tests (its job server's descriptors are not ours), so the inner make
    is a top-level one as when a user types it."""
    env = dict(os.environ)
    for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"):
        env.pop(k, None)
    return env


def run_make(args, cwd=TOP, timeout=900):
    """make ARGS in cwd; the output (stdout and stderr together) in the
    failure message."""
    r = subprocess.run(["make"] + list(args), cwd=str(cwd), env=make_env(),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=timeout)
    assert r.returncode == 0, "make %s failed:\n%s" % (" ".join(args),
                                                       r.stdout[-6000:])
    return r.stdout


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def nginx_t_from_root(root, tmp):
    """`nginx -t` of a configuration that loads the module as Debian's
    nginx does, from the installed tree under root: prefix
    root/usr/share/nginx, where `modules` is the link nginx-common ships (to
    ../../lib/nginx/modules), and the module's conf from modules-available
    included, so its relative `modules/...` path is what is checked. A git
    location makes the check fail unless the module really loaded."""
    root, tmp = Path(root), Path(tmp)
    prefix = root / "usr/share/nginx"
    link = prefix / "modules"
    if not link.exists():
        link.symlink_to("../../lib/nginx/modules")
    repos = tmp / "repos"
    repos.mkdir(exist_ok=True)
    temps = "\n".join("    %s_temp_path %s;" % (t, tmp / ("temp_" + t))
                      for t in TEMPS)
    conf = tmp / "nginx-t.conf"
    conf.write_text("""include %(avail)s;
pid %(tmp)s/nginx.pid;
error_log stderr;
events {}
http {
%(temps)s
    access_log off;
    server {
        listen 127.0.0.1:%(port)d;
        location /git/ {
            git_smart_http on;
            git_smart_http_root %(repos)s;
        }
    }
}
""" % {"avail": prefix / "modules-available" / MODULE_CONF, "tmp": tmp,
       "temps": temps, "port": free_port(), "repos": repos})
    r = subprocess.run([NGINX, "-t", "-p", str(prefix) + "/", "-e", "stderr",
                        "-c", str(conf)], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=60)
    assert r.returncode == 0, r.stdout
    assert "test is successful" in r.stdout, r.stdout
    return r.stdout


def files_under(root):
    """The files and links under root, as paths relative to it."""
    root = Path(root)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() or p.is_symlink())


@pytest.fixture
def git_env(tmp_path):
    env = clean_git_env(tmp_path / "home")
    env.update({"GIT_AUTHOR_NAME": "packaging test",
                "GIT_AUTHOR_EMAIL": "test@example.invalid",
                "GIT_COMMITTER_NAME": "packaging test",
                "GIT_COMMITTER_EMAIL": "test@example.invalid"})
    return env
