"""Who may push: a user comes only from an nginx check that ran, never from
an Authorization header that nothing verified.

An nginx of its own (module scope), beside git http-backend behind fcgiwrap
with the usual `fastcgi_param REMOTE_USER $remote_user`:

  /anon/     the module, receive-pack on, no auth module
  /refanon/  git http-backend, no auth module
  /git/      the module behind auth_basic
  /ref/      git http-backend behind auth_basic
  /any/      the module behind auth_basic with "satisfy any" and
             "allow 127.0.0.1": the request may get in without auth_basic
  /token/    the module behind auth_request; the user is what the
             authorizer answers (auth_request_set, git_smart_http_user),
             with hooks on
"""

import base64

import pytest

import helpers
import test_push as tp
from helpers import Nginx, pkt_flush

TOKEN = "change-me"
TOKEN_USER = "token-user"

IDENTITY_HTTP = """
    client_max_body_size 10m;
    log_format who '$request_uri|$status|$remote_user|$git_user';
    access_log {log} who;
    map $http_authorization $gsh_token_ok {
        "Bearer %(token)s"  1;
        default             0;
    }
    server {
        listen 127.0.0.1:{port};
        location / { return 404; }
        location /anon/ {%(module)s
            git_smart_http_receive_pack on;
        }
        location /git/ {%(auth)s%(module)s
            git_smart_http_receive_pack on;
        }
        location /any/ {
            satisfy any;
            allow 127.0.0.1;
            deny all;%(auth)s%(module)s
            git_smart_http_receive_pack on;
        }
        location /token/ {
            auth_request /_authorize;
            auth_request_set $gsh_auth_user $upstream_http_x_git_user;%(module)s
            git_smart_http_receive_pack on;
            git_smart_http_hooks on;
            git_smart_http_user $gsh_auth_user;
        }
        location = /_authorize {
            internal;
            proxy_pass http://127.0.0.1:{port}/_authorizer;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
        }
        location = /_authorizer {
            if ($gsh_token_ok) {
                add_header X-Git-User "%(user)s";
                return 204;
            }
            return 401;
        }
        location /ref/ {%(auth)s%(fcgi)s
        }
        location /refanon/ {%(fcgi)s
        }
    }
""" % {"auth": tp.AUTH, "module": tp.MODULE, "fcgi": helpers.serving.FASTCGI,
       "token": TOKEN, "user": TOKEN_USER}


class IdentityEnv(tp.PushEnv):
    log = None


@pytest.fixture(scope="module")
def ident(git, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("identity")
    log = tmp / "who.log"
    IdentityEnv.log = log
    yield from tp.serve_push_env(
        git, tmp, IDENTITY_HTTP,
        lambda prefix, conf: Nginx(prefix, conf, module=helpers.module_path()),
        fcgi_children=2, env_class=IdentityEnv, log=log)


def basic(user, password):
    return "Basic " + base64.b64encode(
        ("%s:%s" % (user, password)).encode()).decode()


FORGED = basic("mallory", "anything")


def status_of(env, method, location, repo, suffix, headers):
    h = dict(headers)
    body = None
    if method == "POST":
        h.update(tp.RPC_HEADERS)
        body = pkt_flush()
    return helpers.http_request(env.port, method,
                                env.path(location, repo) + suffix, h,
                                body).status


def push_with_header(env, location, repo, client, header):
    return env.git.run("-c", "http.extraHeader=Authorization: %s" % header,
                       "push", "--porcelain", env.url(location, repo, False),
                       "main", cwd=client)


@pytest.fixture(scope="module")
def seed(ident):
    return tp.make_seed(ident)


def test_forged_basic_header_without_auth_is_anonymous(ident, seed):
    """The module refuses (403) what git http-backend behind the usual
    fastcgi set-up takes as user mallory."""
    git = ident.git
    client = tp.client_of(ident, seed, "forged")
    tip = tp.commit_file(git, client, "file.txt", "forged\n", "forged")
    out = {}
    for side, location in tp.ANON_SIDES:
        repo = ident.new_repo("forged-%s" % side, seed)
        before = tp.server_state(git, repo)
        res = push_with_header(ident, location, repo, client, FORGED)
        out[side] = (res, repo, before)
    res, repo, before = out["module"]
    assert res.code == 128 and "403" in res.err, res
    assert tp.server_state(git, repo) == before
    # the hole this closes: http-backend pushed as the forged user
    res, repo, _ = out["reference"]
    assert res.code == 0, res
    assert tp.rev(git, repo, "main") == tip
    for method, suffix in (("GET", tp.ADVERT), ("POST", tp.RPC)):
        got = {side: status_of(ident, method, location,
                               out[side][1], suffix,
                               {"Authorization": FORGED})
               for side, location in tp.ANON_SIDES}
        assert got == {"module": 403, "reference": 200}, (method, got)


def test_forged_user_is_not_git_user(ident, seed):
    """$remote_user shows what the header says; $git_user, what the module
    pushes as: nobody."""
    repo = ident.new_repo("logged", seed)
    mark = helpers.serving.size_of(ident.log)
    assert status_of(ident, "GET", "anon", repo, tp.ADVERT,
                     {"Authorization": FORGED}) == 403
    assert status_of(ident, "GET", "git", repo, tp.ADVERT,
                     {"Authorization": tp.basic_auth()}) == 200
    lines = helpers.wait_log_lines(ident.log, mark, 2)
    assert lines[0].split("|")[1:] == ["403", "mallory", "-"], lines
    assert lines[1].split("|")[1:] == ["200", tp.USER, tp.USER], lines


@pytest.mark.parametrize("method,suffix", [("GET", tp.ADVERT),
                                           ("POST", tp.RPC)])
def test_auth_basic_good_and_bad_credentials(ident, seed, method, suffix):
    for header, expect in ((tp.basic_auth(), 200),
                           (basic(tp.USER, "wrong"), 401),
                           (FORGED, 401)):
        got = {}
        for side, location in tp.SIDES:
            repo = ident.new_repo("cred-%s" % side, seed)
            got[side] = status_of(ident, method, location, repo, suffix,
                                  {"Authorization": header})
        assert got == {"module": expect, "reference": expect}, (header, got)


def test_satisfy_any_does_not_trust_the_header(ident, seed):
    """allow 127.0.0.1 lets the request in whatever auth_basic thinks of its
    credentials: no user is verified, so the push is anonymous."""
    git = ident.git
    client = tp.client_of(ident, seed, "any")
    tp.commit_file(git, client, "file.txt", "any\n", "any")
    repo = ident.new_repo("any", seed)
    before = tp.server_state(git, repo)
    for header in (FORGED, basic(tp.USER, "wrong")):
        res = push_with_header(ident, "any", repo, client, header)
        assert res.code == 128 and "403" in res.err, res
    assert tp.server_state(git, repo) == before


def test_auth_request_identity_reaches_hooks(ident, seed):
    git = ident.git
    client = tp.client_of(ident, seed, "token")
    tip = tp.commit_file(git, client, "file.txt", "token\n", "token")
    repo = ident.new_repo("token", seed)
    tp.write_hook(repo, "post-receive",
                  'echo "pushed by $REMOTE_USER as $GIT_COMMITTER_EMAIL"\n')
    before = tp.server_state(git, repo)
    # no token, a wrong one, and a Basic header the authorizer ignores
    for header in (None, "Bearer wrong", tp.basic_auth()):
        if header is None:
            res = git.run("push", ident.url("token", repo, False), "main",
                          cwd=client)
        else:
            res = push_with_header(ident, "token", repo, client, header)
        assert res.code == 128, (header, res)
        headers = {"Authorization": header} if header else {}
        assert status_of(ident, "GET", "token", repo, tp.ADVERT,
                         headers) == 401, header
        assert status_of(ident, "POST", "token", repo, tp.RPC,
                         headers) == 401, header
    assert tp.server_state(git, repo) == before
    res = push_with_header(ident, "token", repo, client, "Bearer " + TOKEN)
    assert res.code == 0, res
    assert tp.rev(git, repo, "main") == tip
    assert "remote: pushed by %s as %s@http.127.0.0.1" % (
        TOKEN_USER, TOKEN_USER) in res.err, res.err
    tp.assert_clean(tp.server_state(git, repo))
