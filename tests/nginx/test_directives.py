"""The module's directives: what `nginx -t` accepts and rejects, and how the
settings are inherited from http to server to location.

Self-contained: every test writes its own nginx.conf into a temporary prefix
and runs the stock nginx on it (`nginx -t -p PREFIX -c CONF`, or a short-lived
nginx for the few tests that need answers). The module comes from env
GSH_MODULE (relative to the current directory or the repository top), by
default build/ngx_http_git_smart_http_module.so; with GSH_SANITIZE=1 (a module
built with `make SANITIZE=1`) the sanitizer runtimes are preloaded into nginx.
"""

import hashlib
import os
import shutil
import socket
import subprocess
import time
import zlib
import http.client
from pathlib import Path

import pytest

import log_watch
from helpers import REPO_TOP, module_path, sanitizer_env

NGINX = os.environ.get("GSH_NGINX", "/usr/sbin/nginx")
TIMEOUT = 60


def nginx_env():
    """The environment nginx runs in: with GSH_SANITIZE=1 the stock binary
    needs the ASan/UBSan runtimes preloaded to load an instrumented module."""
    env = dict(os.environ)
    env.update(sanitizer_env())
    return env


@pytest.fixture(scope="module")
def module():
    p = module_path()
    if not p.is_file():
        pytest.fail("module not found: %s (build it with `make`, or set "
                    "GSH_MODULE)" % p, pytrace=False)
    return p


class Conf:
    """A prefix directory with conf/nginx.conf: main-context lines, then an
    http block whose temporary paths and logs stay inside the prefix."""

    def __init__(self, prefix, module):
        self.prefix = Path(prefix)
        self.module = module
        self.conf = self.prefix / "conf" / "nginx.conf"
        for d in ("conf", "logs", "tmp"):
            (self.prefix / d).mkdir(parents=True, exist_ok=True)

    def write(self, http="", main="", port=None):
        p = self.prefix
        user = "user root;\n" if os.geteuid() == 0 else ""
        text = (
            "load_module %(module)s;\n"
            "%(user)s"
            "worker_processes 1;\n"
            "daemon off;\n"
            "error_log %(p)s/logs/error.log info;\n"
            "pid %(p)s/logs/nginx.pid;\n"
            "%(main)s\n"
            "events { worker_connections 64; }\n"
            "http {\n"
            "    access_log off;\n"
            "    client_body_temp_path %(p)s/tmp/body;\n"
            "    proxy_temp_path %(p)s/tmp/proxy;\n"
            "    fastcgi_temp_path %(p)s/tmp/fastcgi;\n"
            "    uwsgi_temp_path %(p)s/tmp/uwsgi;\n"
            "    scgi_temp_path %(p)s/tmp/scgi;\n"
            "%(http)s\n"
            "}\n" % {"module": self.module, "user": user, "p": p,
                     "main": main, "http": http})
        if port is not None:
            text = text.replace("{port}", str(port))
        self.conf.write_text(text)
        return self

    def test(self):
        """`nginx -t`: (exit code, stderr)."""
        proc = subprocess.run(
            [NGINX, "-t", "-p", str(self.prefix), "-c", str(self.conf),
             "-e", "stderr"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT,
            env=nginx_env())
        return proc.returncode, proc.stderr.decode("utf-8", "replace")


@pytest.fixture
def conf(tmp_path, module):
    return Conf(tmp_path / "nginx", module)


@pytest.fixture
def root(tmp_path):
    d = tmp_path / "repos"
    d.mkdir()
    return d


def server(body, listen="127.0.0.1:8080"):
    return "    server {\n        listen %s;\n%s\n    }\n" % (listen, body)


def location(name, body):
    return "        location %s {\n%s\n        }\n" % (name, body)


def assert_ok(rc_err):
    rc, err = rc_err
    assert rc == 0, err
    assert "test is successful" in err, err


def assert_fails(rc_err, *needles):
    rc, err = rc_err
    assert rc != 0, err
    assert "[emerg]" in err, err
    for needle in needles:
        assert needle in err, err
    return err


# --------------------------------------------------------------------------
# nginx -t: valid configurations


def test_minimal_conf_passes(conf, root):
    assert_ok(conf.write(server(location("/git/", """
            git_smart_http on;
            git_smart_http_root %s;""" % root))).test())


def test_every_directive_at_every_level_passes(conf, root):
    http = """
    git_smart_http_root %(root)s;
    git_smart_http_export_all off;
    git_smart_http_upload_pack on;
    git_smart_http_receive_pack off;
    git_smart_http_hooks off;
    git_smart_http_filter off;
    git_smart_http_thread_pool default;
    git_smart_http_max_request_size 64m;
    git_smart_http_max_object_size 0;
    git_smart_http_max_wants 0;
    git_smart_http_max_haves 1000;
""" % {"root": root}
    http += server("""
        git_smart_http_root %(root)s;
        git_smart_http_export_all on;
        git_smart_http_upload_pack off;
        git_smart_http_receive_pack on;
        git_smart_http_hooks on;
        git_smart_http_filter on;
        git_smart_http_thread_pool gsh;
""" % {"root": root} + location("/git/", """
            git_smart_http on;
            git_smart_http_root %(root)s;
            git_smart_http_export_all off;
            git_smart_http_upload_pack on;
            git_smart_http_receive_pack off;
            git_smart_http_hooks off;
            git_smart_http_filter off;
            git_smart_http_thread_pool gsh;
            git_smart_http_max_request_size 512k;
            git_smart_http_max_object_size 1024m;
            git_smart_http_max_wants 100;
            git_smart_http_max_haves 0;""" % {"root": root})
        + location("/off/", """
            git_smart_http off;"""))
    assert_ok(conf.write(http, main="thread_pool gsh threads=2;").test())


def test_module_loaded_but_unused_passes(conf):
    assert_ok(conf.write(server(location("/", "            return 204;")))
              .test())


def test_off_without_root_passes(conf):
    assert_ok(conf.write(server(location("/git/", """
            git_smart_http off;"""))).test())


@pytest.mark.parametrize("name", ["/git/", "= /git", "~ ^/git/", "@git"])
def test_location_kinds_pass(conf, root, name):
    assert_ok(conf.write(server(location(name, """
            git_smart_http on;
            git_smart_http_root %s;""" % root))).test())


def test_relative_root_is_relative_to_prefix(conf):
    (conf.prefix / "repos").mkdir()
    assert_ok(conf.write(server(location("/git/", """
            git_smart_http on;
            git_smart_http_root repos;"""))).test())


def test_root_with_trailing_slash_passes(conf, root):
    assert_ok(conf.write(server(location("/git/", """
            git_smart_http on;
            git_smart_http_root %s/;""" % root))).test())


# --------------------------------------------------------------------------
# nginx -t: rejected configurations


@pytest.mark.parametrize("directive", [
    "git_smart_http", "git_smart_http_export_all",
    "git_smart_http_upload_pack", "git_smart_http_receive_pack",
    "git_smart_http_hooks", "git_smart_http_filter", "git_smart_http_dumb"])
@pytest.mark.parametrize("value", ["yes", "1", "On1"])
def test_bad_flag_value_rejected(conf, root, directive, value):
    body = """
            git_smart_http_root %s;
            %s %s;""" % (root, directive, value)
    err = assert_fails(conf.write(server(location("/git/", body))).test(),
                       '"%s"' % directive)
    assert "must be \"on\" or \"off\"" in err


@pytest.mark.parametrize("directive,value,message", [
    ("git_smart_http_max_request_size", "lots", "invalid value"),
    ("git_smart_http_max_object_size", "big", "invalid value"),
    ("git_smart_http_max_wants", "-1", "invalid number"),
    ("git_smart_http_max_haves", "many", "invalid number"),
])
def test_bad_limit_value_rejected(conf, root, directive, value, message):
    body = """
            git_smart_http_root %s;
            %s %s;""" % (root, directive, value)
    err = assert_fails(conf.write(server(location("/git/", body))).test(),
                       '"%s"' % directive)
    assert message in err


def test_missing_argument_rejected(conf):
    assert_fails(conf.write(server(location("/git/", """
            git_smart_http;"""))).test(), '"git_smart_http"')


def test_on_without_root_rejected(conf):
    err = assert_fails(conf.write(server(location("/git/", """
            git_smart_http on;"""))).test(),
        '"git_smart_http"', '"git_smart_http_root" is not set')
    assert "/git/" in err


def test_on_without_root_rejected_in_nested_location(conf):
    assert_fails(conf.write(server(location("/a/", location("/a/b/", """
            git_smart_http on;""")))).test(),
        '"git_smart_http_root" is not set')


def test_root_that_does_not_exist_rejected(conf, tmp_path):
    missing = tmp_path / "nowhere"
    assert_fails(conf.write(server(location("/git/", """
            git_smart_http on;
            git_smart_http_root %s;""" % missing))).test(),
        '"git_smart_http_root"', str(missing))


def test_root_that_is_a_file_rejected(conf, tmp_path):
    f = tmp_path / "file"
    f.write_text("not a directory\n")
    assert_fails(conf.write(server(location("/git/", """
            git_smart_http on;
            git_smart_http_root %s;""" % f))).test(),
        '"git_smart_http_root"', str(f), "is not a directory")


def test_root_checked_even_where_not_used(conf, tmp_path):
    # a bad root at http level is an error even if no location is on
    missing = tmp_path / "nowhere"
    assert_fails(conf.write("    git_smart_http_root %s;\n" % missing
                            + server(location("/", "            return 204;")))
                 .test(), '"git_smart_http_root"')


def test_relative_root_missing_under_prefix_rejected(conf):
    err = assert_fails(conf.write(server(location("/git/", """
            git_smart_http on;
            git_smart_http_root repos;"""))).test(),
        '"git_smart_http_root"')
    assert str(conf.prefix / "repos") in err


def test_empty_root_rejected(conf):
    assert_fails(conf.write(server(location("/git/", """
            git_smart_http on;
            git_smart_http_root "";"""))).test(), '"git_smart_http_root"')


def test_duplicate_root_rejected(conf, root):
    assert_fails(conf.write(server(location("/git/", """
            git_smart_http on;
            git_smart_http_root %s;
            git_smart_http_root %s;""" % (root, root)))).test(),
        '"git_smart_http_root" directive is duplicate')


def test_on_outside_location_rejected(conf, root):
    assert_fails(conf.write(server("""
        git_smart_http on;
        git_smart_http_root %s;""" % root)).test(),
        '"git_smart_http" directive is not allowed here')


def test_unknown_thread_pool_rejected(conf, root):
    assert_fails(conf.write(server(location("/git/", """
            git_smart_http on;
            git_smart_http_root %s;
            git_smart_http_thread_pool nosuchpool;""" % root))).test(),
        'unknown thread pool "nosuchpool"')


def test_unknown_thread_pool_rejected_at_http_level(conf, root):
    assert_fails(conf.write("    git_smart_http_thread_pool nosuchpool;\n"
                            + server(location("/git/", """
            git_smart_http on;
            git_smart_http_root %s;""" % root))).test(),
        'unknown thread pool "nosuchpool"')


def test_thread_pool_defined_after_http_block_passes(conf, root):
    text = server(location("/git/", """
            git_smart_http on;
            git_smart_http_root %s;
            git_smart_http_thread_pool late;""" % root))
    conf.write(text)
    # the thread_pool directive is in the main context, after http {}
    conf.conf.write_text(conf.conf.read_text()
                         + "thread_pool late threads=2;\n")
    assert_ok(conf.test())


# --------------------------------------------------------------------------
# nginx -t: inheritance of the root


def test_root_inherited_from_http(conf, root):
    assert_ok(conf.write("    git_smart_http_root %s;\n" % root
                         + server(location("/git/", """
            git_smart_http on;"""))).test())


def test_root_inherited_from_server(conf, root):
    assert_ok(conf.write(server("""
        git_smart_http_root %s;
""" % root + location("/git/", """
            git_smart_http on;"""))).test())


def test_on_inherited_by_nested_location(conf, root):
    assert_ok(conf.write(server(location("/git/", """
            git_smart_http on;
            git_smart_http_root %s;
""" % root + location("~ /git-receive-pack$", """
                limit_except POST { deny all; }""")))).test())


# --------------------------------------------------------------------------
# a running nginx: inheritance seen from the answers


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Running:
    def __init__(self, conf):
        self.conf = conf
        self.port = None
        self.proc = None

    def start(self, http, main=""):
        # The port is found free, then bound by nginx: another process may
        # take it in between. Only that is tried again; any other failure
        # to start (the module failing to load, a crash) fails at once.
        last = None
        for _ in range(5):
            self.port = free_port()
            self.conf.write(http, main=main, port=self.port)
            rc, err = self.conf.test()
            assert rc == 0, err
            self.proc = subprocess.Popen(
                [NGINX, "-p", str(self.conf.prefix), "-c",
                 str(self.conf.conf), "-e", "stderr"],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                env=nginx_env())
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    socket.create_connection(("127.0.0.1", self.port),
                                             timeout=1).close()
                    return self
                except OSError:
                    time.sleep(0.05)
            last = self.stop()
            log = self.error_log() if (self.conf.prefix / "logs" /
                                       "error.log").exists() else ""
            if "bind() to 127.0.0.1:%d failed (98: Address already in use)" \
                    % self.port not in last + log:
                break
        pytest.fail("nginx did not start: %s" % last, pytrace=False)

    def stop(self):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        err = self.proc.stderr.read().decode("utf-8", "replace")
        self.proc.stderr.close()
        self.proc = None
        return err

    def get(self, path):
        return self.get_body(path)[0]

    def get_body(self, path):
        c = http.client.HTTPConnection("127.0.0.1", self.port,
                                       timeout=TIMEOUT)
        try:
            c.request("GET", path, headers={"Git-Protocol": "version=2"})
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def error_log(self):
        return (self.conf.prefix / "logs" / "error.log").read_text(
            "utf-8", "replace")


@pytest.fixture
def running(conf):
    r = Running(conf)
    yield r
    err = r.stop() or ""
    log = r.error_log() if (conf.prefix / "logs" / "error.log").exists() \
        else ""
    bad = log_watch.fatal_lines(err + log)
    assert not bad, "\n".join(bad[:20])


def make_repo(parent, name):
    git = shutil.which("git")
    assert git is not None, "git is not installed (make deps installs it)"
    path = parent / name
    subprocess.run([git, "init", "-q", "--bare", str(path)], check=True,
                   timeout=TIMEOUT, env={"PATH": os.environ.get("PATH", ""),
                                         "HOME": str(parent),
                                         "GIT_CONFIG_NOSYSTEM": "1"})
    (path / "git-daemon-export-ok").write_text("")
    return path


ADVERTISE = "/info/refs?service=git-upload-pack"


def assert_clean_log(log):
    for marker in ("[alert]", "[crit]", "[emerg]", "exited on signal",
                   "AddressSanitizer", "runtime error:"):
        assert marker not in log, log


def test_upload_pack_off_inherited_and_overridden(running, root):
    # off answers 403 for a repository that is served (404 for one that is
    # not, as git http-backend looks for the repository first)
    make_repo(Path(root), "x.git")
    running.start("    git_smart_http_upload_pack off;\n"
                  "    git_smart_http_root %s;\n" % root
                  + server(location("/inherit/", """
            git_smart_http on;""") + location("/override/", """
            git_smart_http on;
            git_smart_http_upload_pack on;"""), listen="127.0.0.1:{port}"))
    assert running.get("/inherit/x.git" + ADVERTISE) == 403
    assert running.get("/inherit/missing.git" + ADVERTISE) == 404
    assert running.get("/override/x.git" + ADVERTISE) == 200
    assert_clean_log(running.error_log())


def test_filter_off_inherited_and_overridden(running, root):
    """git_smart_http_filter off takes the filter capability out of the
    advertisement of a repository that allows filters; on (the default)
    leaves it to the repository."""
    repo = make_repo(Path(root), "x.git")
    subprocess.run(["git", "config", "uploadpack.allowFilter", "true"],
                   cwd=repo, check=True, timeout=TIMEOUT)
    running.start("    git_smart_http_filter off;\n"
                  "    git_smart_http_root %s;\n" % root
                  + server(location("/inherit/", """
            git_smart_http on;""") + location("/override/", """
            git_smart_http on;
            git_smart_http_filter on;"""), listen="127.0.0.1:{port}"))
    status, body = running.get_body("/inherit/x.git" + ADVERTISE)
    assert status == 200 and b"fetch=shallow wait-for-done\n" in body
    status, body = running.get_body("/override/x.git" + ADVERTISE)
    assert status == 200 and b"fetch=shallow wait-for-done filter\n" in body
    assert_clean_log(running.error_log())


def small_push(blob_size):
    """A receive-pack request creating refs/heads/x at a commit whose tree
    holds one blob of blob_size bytes."""
    def obj(kind, data):
        return hashlib.sha1(b"%s %d\0" % (kind, len(data)) + data)

    def entry(code, data):
        size, c, head = len(data) >> 4, (code << 4) | (len(data) & 15), b""
        while size:
            head += bytes([c | 0x80])
            c, size = size & 0x7f, size >> 7
        return head + bytes([c]) + zlib.compress(data)
    blob = b"x" * blob_size
    tree = b"100644 f\0" + obj(b"blob", blob).digest()
    commit = (b"tree %s\nauthor A <a@b> 1 +0000\ncommitter A <a@b> 1 "
              b"+0000\n\nm\n" % obj(b"tree", tree).hexdigest().encode())
    pack = b"PACK\0\0\0\2\0\0\0\3" + entry(3, blob) + entry(2, tree) + \
        entry(1, commit)
    pack += hashlib.sha1(pack).digest()
    line = b"%s %s refs/heads/x\0report-status\n" % (
        b"0" * 40, obj(b"commit", commit).hexdigest().encode())
    return b"%04x" % (len(line) + 4) + line + b"0000" + pack


def test_max_object_size_inherited_and_overridden(running, root):
    """1k from the http level refuses a pushed 2 KB blob where it is
    inherited; 0 (no limit) in a location lets it in."""
    for name in ("a.git", "b.git"):
        repo = make_repo(Path(root), name)
        subprocess.run(["git", "config", "http.receivepack", "true"],
                       cwd=repo, check=True, timeout=TIMEOUT)
    running.start("    git_smart_http_max_object_size 1k;\n"
                  "    git_smart_http_root %s;\n" % root
                  + server(location("/inherit/", """
            git_smart_http on;
            git_smart_http_receive_pack on;""") + location("/override/", """
            git_smart_http on;
            git_smart_http_receive_pack on;
            git_smart_http_max_object_size 0;"""), listen="127.0.0.1:{port}"))
    answers = {}
    for path in ("/inherit/a.git", "/override/b.git"):
        c = http.client.HTTPConnection("127.0.0.1", running.port,
                                       timeout=TIMEOUT)
        try:
            c.request("POST", path + "/git-receive-pack", small_push(2048), {
                "Content-Type": "application/x-git-receive-pack-request"})
            r = c.getresponse()
            answers[path] = (r.status, r.read())
        finally:
            c.close()
    status, body = answers["/inherit/a.git"]
    assert status == 200 and b"unpack index-pack abnormal exit" in body, body
    assert not (Path(root) / "a.git" / "refs" / "heads" / "x").exists()
    status, body = answers["/override/b.git"]
    assert status == 200 and b"unpack ok" in body and \
        b"ok refs/heads/x" in body, body
    assert_clean_log(running.error_log())


def test_on_inherited_by_nested_location_serves(running, root):
    make_repo(Path(root), "x.git")
    running.start(server(location("/git/", """
            git_smart_http on;
            git_smart_http_root %s;
            git_smart_http_upload_pack off;
""" % root + location("~ /info/refs$", """
                add_header X-Nested 1;""")), listen="127.0.0.1:{port}"))
    # answered by the module in the nested location: 403, not a static 404
    assert running.get("/git/x.git" + ADVERTISE) == 403


def test_root_inherited_and_overridden(running, tmp_path):
    a = tmp_path / "root-a"
    b = tmp_path / "root-b"
    a.mkdir()
    b.mkdir()
    make_repo(a, "a.git")
    make_repo(b, "b.git")
    running.start("    git_smart_http_root %s;\n" % a
                  + server(location("/one/", """
            git_smart_http on;""") + location("/two/", """
            git_smart_http on;
            git_smart_http_root %s;""" % b), listen="127.0.0.1:{port}"))
    got = {path: running.get(path + ADVERTISE)
           for path in ("/one/a.git", "/one/b.git", "/two/a.git",
                        "/two/b.git")}
    assert got == {"/one/a.git": 200, "/one/b.git": 404,
                   "/two/a.git": 404, "/two/b.git": 200}, got
    assert_clean_log(running.error_log())


# --------------------------------------------------------------------------
# shared limits, the pack timeout and the metrics location


def test_limit_directives_at_every_level_pass(conf, root):
    http = """
    git_smart_http_max_concurrent 8;
    git_smart_http_queue 16 timeout=30s;
    git_smart_http_timeout 2m;
""" + server("""
        git_smart_http_max_concurrent off;
        git_smart_http_queue 0;
        git_smart_http_timeout 0;
""" + location("/git/", """
            git_smart_http on;
            git_smart_http_root %s;
            git_smart_http_max_concurrent 1;
            git_smart_http_queue 4;
            git_smart_http_timeout 10s;""" % root)
        + location("= /metrics", """
            git_smart_http_metrics;"""))
    assert_ok(conf.write(http).test())


def test_metrics_alone_passes(conf):
    assert_ok(conf.write(server(location("/metrics", """
            git_smart_http_metrics;"""))).test())


@pytest.mark.parametrize("line,needles", [
    ("git_smart_http_max_concurrent 0;", ["takes a number of packs"]),
    ("git_smart_http_max_concurrent many;", ["takes a number of packs",
                                             '"many"']),
    ("git_smart_http_max_concurrent;", ["invalid number of arguments"]),
    ("git_smart_http_max_concurrent 1; git_smart_http_max_concurrent 2;",
     ["is duplicate"]),
    ("git_smart_http_queue -1;", ["takes a number of waiting requests"]),
    ("git_smart_http_queue 5000;", ["more than the zone holds"]),
    ("git_smart_http_queue 2 timeout=soon;", ['invalid timeout "timeout=soon"']),
    ("git_smart_http_queue 2 timeout=0;", ['invalid timeout "timeout=0"']),
    ("git_smart_http_queue 2 wait=1s;", ['invalid parameter "wait=1s"']),
    ("git_smart_http_queue 2 timeout=1s x;", ["invalid number of arguments"]),
    ("git_smart_http_timeout forever;", ['"git_smart_http_timeout"',
                                         "invalid value"]),
    ("git_smart_http_metrics on;", ["invalid number of arguments"]),
])
def test_bad_limit_directive_rejected(conf, root, line, needles):
    body = """
            git_smart_http on;
            git_smart_http_root %s;
            %s""" % (root, line)
    assert_fails(conf.write(server(location("/git/", body))).test(), *needles)


def test_metrics_outside_location_rejected(conf):
    assert_fails(conf.write(server("        git_smart_http_metrics;")).test(),
                 '"git_smart_http_metrics" directive is not allowed here')


def test_metrics_duplicate_rejected(conf):
    assert_fails(conf.write(server(location("/m", """
            git_smart_http_metrics;
            git_smart_http_metrics;"""))).test(), "is duplicate")


def test_metrics_location_counts_a_git_location(running, root):
    """The limits inherited from http do not hold an advertisement back, and
    the metrics location of the same nginx counts it."""
    make_repo(root, "x.git")
    http = """
    git_smart_http_max_concurrent 1;
    git_smart_http_queue 0 timeout=3s;
""" + server(location("/a/", """
            git_smart_http on;
            git_smart_http_root %s;""" % root)
             + location("= /metrics", """
            git_smart_http_metrics;"""), listen="127.0.0.1:{port}")
    running.start(http)
    assert running.get("/a/x.git" + ADVERTISE) == 200
    status, body = running.get_body("/metrics")
    assert status == 200
    assert b"git_smart_http_packs_in_flight 0\n" in body
    assert b'git_smart_http_requests_total{service="upload-pack",' \
           b'command="advertise",protocol="2",status="200"} 1\n' in body


def test_limits_and_metrics_example_passes(tmp_path, module, root):
    """examples/limits-and-metrics.conf, with its module and root paths
    made real, passes nginx -t."""
    text = (REPO_TOP / "examples" / "limits-and-metrics.conf").read_text()
    assert "/path/to/ngx_http_git_smart_http_module.so" in text
    assert "/srv/git" in text
    text = text.replace("/path/to/ngx_http_git_smart_http_module.so",
                        str(module)).replace("/srv/git", str(root))
    text = text.replace("worker_processes auto;",
                        "worker_processes auto;\npid %s/nginx.pid;"
                        % tmp_path)
    if os.geteuid() == 0:
        text = "user root;\n" + text
    conf = tmp_path / "nginx.conf"
    conf.write_text(text)
    proc = subprocess.run(
        [NGINX, "-t", "-p", str(tmp_path), "-c", str(conf), "-e", "stderr"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT,
        env=nginx_env())
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 0, err
    assert "test is successful" in err, err


# --------------------------------------------------------------------------
# git_smart_http_user: where a push's user comes from

NO_USER_WARNING = "but no user can be verified there"
AUTH_BASIC = """
            auth_basic "git";
            auth_basic_user_file %s;"""


def push_location(root, extra=""):
    return location("/git/", """
            git_smart_http on;
            git_smart_http_root %s;
            git_smart_http_receive_pack on;%s""" % (root, extra))


def test_receive_pack_without_any_user_source_warns(conf, root):
    rc, err = conf.write(server(push_location(root))).test()
    assert rc == 0, err
    assert "[warn]" in err and NO_USER_WARNING in err, err
    assert 'location "/git/"' in err, err


@pytest.mark.parametrize("extra", [
    AUTH_BASIC,
    "\n            git_smart_http_user $remote_user;",
    "\n            git_smart_http_user $http_x_verified_user;",
])
def test_receive_pack_with_a_user_source_does_not_warn(conf, root, extra):
    htpasswd = conf.prefix / "conf" / "htpasswd"
    htpasswd.write_text("")
    rc, err = conf.write(server(push_location(
        root, extra.replace("%s", str(htpasswd))))).test()
    assert_ok((rc, err))
    assert NO_USER_WARNING not in err, err


def test_satisfy_any_with_auth_basic_warns(conf, root):
    htpasswd = conf.prefix / "conf" / "htpasswd"
    htpasswd.write_text("")
    rc, err = conf.write(server(push_location(
        root, "\n            satisfy any;\n            allow 127.0.0.1;"
        + AUTH_BASIC % htpasswd))).test()
    assert rc == 0, err
    assert NO_USER_WARNING in err, err


def test_user_inherited_from_server(conf, root):
    rc, err = conf.write(server(
        "        git_smart_http_user $remote_user;\n"
        + push_location(root))).test()
    assert_ok((rc, err))
    assert NO_USER_WARNING not in err, err


def test_user_duplicate_rejected(conf, root):
    assert_fails(conf.write(server(push_location(
        root, "\n            git_smart_http_user $remote_user;"
        "\n            git_smart_http_user $remote_user;"))).test(),
        '"git_smart_http_user" directive is duplicate')


def test_receive_pack_off_without_user_does_not_warn(conf, root):
    rc, err = conf.write(server(location("/git/", """
            git_smart_http on;
            git_smart_http_root %s;""" % root))).test()
    assert_ok((rc, err))
    assert NO_USER_WARNING not in err, err


# --------------------------------------------------------------------------
# published base packs (issue 20)


@pytest.mark.parametrize("directive", ["git_smart_http_packfile_uris",
                                       "git_smart_http_bundle_uri"])
def test_offer_without_publish_rejected(conf, root, directive):
    err = assert_fails(conf.write(server(location("/git/", """
            git_smart_http on;
            git_smart_http_root %s;
            %s on;""" % (root, directive)))).test(),
        '"%s" is on' % directive, '"git_smart_http_publish" is not set')
    assert "/git/" in err


def test_publish_off_in_a_location_then_an_offer_rejected(conf, root,
                                                          tmp_path):
    """Inherited from http as a whole, and turned off again below."""
    assert_ok(conf.write("""
    git_smart_http_publish %s interval=10m grace=2h;
    git_smart_http_packfile_uris on;
""" % (tmp_path / "pub") + server(location("/git/", """
            git_smart_http on;
            git_smart_http_root %s;""" % root))).test())
    assert_fails(conf.write("""
    git_smart_http_publish %s;
    git_smart_http_packfile_uris on;
""" % (tmp_path / "pub") + server(location("/git/", """
            git_smart_http on;
            git_smart_http_publish off;
            git_smart_http_root %s;""" % root))).test(),
        '"git_smart_http_publish" is not set')


@pytest.mark.parametrize("args,message", [
    ("%s interval=soon", 'invalid time in "interval=soon"'),
    ("%s grace=-1", 'invalid time in "grace=-1"'),
    ("%s levels=1:2", 'invalid parameter "levels=1:2"'),
    ("off interval=1h", 'takes no parameters with "off"'),
])
def test_bad_publish_rejected(conf, root, tmp_path, args, message):
    if "%s" in args:
        args = args % (tmp_path / "pub")
    assert_fails(conf.write(server(location("/git/", """
            git_smart_http on;
            git_smart_http_root %s;
            git_smart_http_publish %s;""" % (root, args)))).test(),
        '"git_smart_http_publish"', message)


def test_publish_duplicate_rejected(conf, root, tmp_path):
    assert_fails(conf.write(server(location("/git/", """
            git_smart_http on;
            git_smart_http_root %s;
            git_smart_http_publish %s;
            git_smart_http_publish %s;""" % (root, tmp_path / "a",
                                             tmp_path / "b")))).test(),
        '"git_smart_http_publish" directive is duplicate')
