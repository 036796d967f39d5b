"""Session fixtures: one real nginx (the stock binary loading the module under
test) and one fcgiwrap running `git http-backend` as the reference, both over
the same repositories root.

Locations (see NGINX_HTTP below):
  /git/     the module, git_smart_http_root ROOT (exported repositories only)
  /gitall/  the module with git_smart_http_export_all on
  /gitlim/  the module with small request limits (test_limits.py)
  /gitnofilter/  the module with git_smart_http_filter off (test_filter.py)
  /ref/     git http-backend through fcgiwrap (exported repositories only)
  /refall/  git http-backend with GIT_HTTP_EXPORT_ALL=1

GSH_SELF_CHECK=1 checks the harness itself: no module is loaded and /git/,
/gitall/ are served by git http-backend too, so every differential test
must pass; only the tests of module-specific behaviour (its exact
capability list, symlinks leaving the root, ...) fail then.
"""

import os
from pathlib import Path

import pytest

pytest.register_assert_rewrite("helpers")

import helpers  # noqa: E402
import log_watch  # noqa: E402
import repos  # noqa: E402
from helpers import Fcgiwrap, Git, Nginx  # noqa: E402

FASTCGI_COMMON = helpers.serving.FASTCGI

NGINX_HTTP = """
    client_max_body_size 100m;""" + helpers.server_conf("""\
        location /git/ {
            git_smart_http on;
            git_smart_http_root {root};
        }
        location /gitall/ {
            git_smart_http on;
            git_smart_http_root {root};
            git_smart_http_export_all on;
        }
        location /gitlim/ {
            git_smart_http on;
            git_smart_http_root {root};
            client_max_body_size 64k;
            git_smart_http_max_request_size 4k;
            git_smart_http_max_wants 2;
            git_smart_http_max_haves 3;
        }
        # 0: no limit
        location /gitnolim/ {
            git_smart_http on;
            git_smart_http_root {root};
            git_smart_http_max_wants 0;
            git_smart_http_max_haves 0;
        }
        location /gitnofilter/ {
            git_smart_http on;
            git_smart_http_root {root};
            git_smart_http_filter off;
        }
        location /ref/ {%(fcgi)s
        }
        location /refall/ {%(fcgi)s
            fastcgi_param GIT_HTTP_EXPORT_ALL 1;
        }
""" % {"fcgi": FASTCGI_COMMON})

SELF_CHECK = os.environ.get("GSH_SELF_CHECK") == "1"
if SELF_CHECK:
    NGINX_HTTP = NGINX_HTTP.replace("""
            git_smart_http on;
            git_smart_http_root {root};
            git_smart_http_export_all on;""", FASTCGI_COMMON + """
            fastcgi_param GIT_HTTP_EXPORT_ALL 1;""").replace("""
            git_smart_http on;
            git_smart_http_root {root};""", FASTCGI_COMMON)


def pytest_report_header(config):
    if SELF_CHECK:
        return ("GSH_SELF_CHECK=1: /git/ is git http-backend, not the module "
                "(harness self-check)")
    return "module: %s" % helpers.module_path()


class Server:
    """What the tests see of the running nginx."""

    def __init__(self, nginx, root, fcgiwrap):
        self.nginx = nginx
        self.root = Path(root)
        self.fcgiwrap = fcgiwrap
        self.port = nginx.port
        base = "http://127.0.0.1:%d" % self.port
        self.base = base
        self.module_url = base + "/git"
        self.ref_url = base + "/ref"
        self.module_all_url = base + "/gitall"
        self.ref_all_url = base + "/refall"
        # (name, URL prefix, path prefix) of both implementations, in the
        # order scenarios run.
        self.sides = (("module", self.module_url, "/git"),
                      ("reference", self.ref_url, "/ref"))

    def http(self, method, path, headers=None, body=None, timeout=120):
        return self.nginx.http(method, path, headers, body, timeout)

    def error_log(self, offset=0):
        return self.nginx.read_error_log(offset)

    def error_log_size(self):
        return self.nginx.error_log_size()


@pytest.fixture(scope="session")
def session_tmp(tmp_path_factory):
    return tmp_path_factory.mktemp("gsh")


@pytest.fixture(scope="session")
def git(session_tmp):
    """git with a clean environment; git.run(...) -> (code, out, err)."""
    return Git(session_tmp / "home")


@pytest.fixture(scope="session")
def repos_root(git, session_tmp):
    # The fixtures' commit dates come from a clock of their own, which
    # starts at the same instant whatever ran first: a test that ticked the
    # session's clock (a push, say) before the first use of the root would
    # otherwise move every date, and --shallow-since cuts at a fixed one.
    return repos.build_all(Git(git.home), session_tmp / "repos")


@pytest.fixture(scope="session")
def server(repos_root, session_tmp):
    module = None if SELF_CHECK else helpers.module_path()
    if module is not None and not module.is_file():
        pytest.fail("module not found: %s (build it with `make`, or set "
                    "GSH_MODULE)" % module, pytrace=False)
    fcgi = Fcgiwrap(session_tmp / "fcgiwrap", children=4).start()
    http_body = NGINX_HTTP.replace("{root}", str(repos_root)) \
        .replace("{sock}", str(fcgi.socket_path)) \
        .replace("{backend}", helpers.HTTP_BACKEND)
    nginx = Nginx(session_tmp / "nginx", http_body, module=module)
    try:
        nginx.start()
    except Exception:
        fcgi.stop()
        raise
    srv = Server(nginx, repos_root, fcgi)
    # The socket is inherited and already listening, so this request
    # simply waits in the backlog until a worker accepts it.
    try:
        probe = srv.http("GET", "/nowhere")
    except OSError as e:
        log = nginx.read_error_log() + nginx.stderr_log.read_text()
        nginx.stop()
        fcgi.stop()
        pytest.fail("nginx did not answer (%s):\n%s" % (e, log),
                    pytrace=False)
    assert probe.status == 404
    yield srv
    status = nginx.stop()
    fcgi.stop()
    # After SIGQUIT nginx finishes the requests in flight and exits 0. A
    # master that had to be killed (a request that never ends) or that
    # died on its own is an error of the last test, with the log's tail.
    if status != 0:
        pytest.fail("nginx did not stop cleanly (exit status %s); end of "
                    "error.log:\n%s" % (status, nginx.read_error_log()[-5000:]),
                    pytrace=False)


@pytest.fixture(scope="session")
def corpus(git, repos_root):
    """ROOT/nginx.git: a mirror of the shared nginx bundle, repacked with a
    bitmap. Only the tests that need it pay for it."""
    if not helpers.CORPUS_BUNDLE.is_file():
        pytest.fail("corpus bundle not found: %s" % helpers.CORPUS_BUNDLE,
                    pytrace=False)
    dest = repos_root / "nginx.git"
    if not dest.exists():
        repos.build_corpus(git, helpers.CORPUS_BUNDLE, dest)
    return dest


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "kills_workers: the test kills nginx workers with "
        "SIGKILL on purpose; the crash watch lets their 'exited on signal "
        "9' lines pass (and nothing else)")


def _kills_workers(item):
    return item.get_closest_marker("kills_workers") is not None


@pytest.fixture(autouse=True)
def _nginx_log_watch(request):
    """After every test, what every nginx started so far (the shared
    server, a test file's own, one started by the test) wrote since the
    last look: a worker that exited on a signal, a sanitizer report, an
    [alert] or [emerg] line fails the test. For tests that use the shared
    server, its error.log of the test is attached to a failing report."""
    srv = None
    if "server" in request.fixturenames:
        srv = request.getfixturevalue("server")
        request.node._gsh_log = (srv, srv.error_log_size(),
                                 len(srv.fcgiwrap.log()))
    yield
    found = log_watch.WATCH.collect(_kills_workers(request.node))
    if found:
        pytest.fail("nginx reports a crash, a sanitizer error or an alert:\n"
                    + log_watch.report(found), pytrace=False)
    if srv is not None and not srv.nginx.alive():
        pytest.fail("nginx master is gone:\n"
                    + srv.error_log(request.node._gsh_log[1])[-5000:],
                    pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if call.when == "teardown":
        # nginx instances of module and session fixtures stop after the
        # last test's fixture check: what they wrote until they were gone
        # fails this teardown.
        found = log_watch.WATCH.collect(_kills_workers(item))
        if found:
            report.outcome = "failed"
            report.longrepr = ("nginx reports a crash, a sanitizer error or "
                               "an alert:\n" + log_watch.report(found))
    info = getattr(item, "_gsh_log", None)
    if info is None or not report.failed:
        return
    srv, start, fcgi_start = info
    text = srv.error_log(start)
    if len(text) > 20000:
        text = "...\n" + text[-20000:]
    report.sections.append(("nginx error.log (this test)", text or "(empty)"))
    fcgi_log = srv.fcgiwrap.log()[fcgi_start:]
    if fcgi_log.strip():
        report.sections.append(("fcgiwrap stderr (this test)",
                                fcgi_log[-5000:]))
