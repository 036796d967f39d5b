#!/usr/bin/env bash
# `make run`: nginx in the foreground on 127.0.0.1:$PORT serving a demo root
# with the module. Everything lives under <repo>/build/demo; nothing here
# depends on where the repository is: paths come from this script's location.
#
#   GSH_MODULE  the module to load (default <repo>/build/ngx_http_git_smart_http_module.so)
#   PORT        the port (default 8080)
#   GSH_CORPUS  optional: a bundle of nginx's history served as nginx.git
#               (default <repo>/../shared/corpus/nginx.bundle; the demo
#               works without it)
#
# The demo shows what the README describes: every repository allows partial
# clones (uploadpack.allowFilter) and want-ref (uploadpack.allowRefInWant);
# /push/ takes pushes to sandbox.git behind auth_basic (user "demo", a
# password made on the first run); /metrics answers the module's metrics.
# Re-running reuses the demo repositories and the password already there.
set -euo pipefail

TOP="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
PORT="${PORT:-8080}"
MODULE="${GSH_MODULE:-$TOP/build/ngx_http_git_smart_http_module.so}"
CORPUS="${GSH_CORPUS:-$TOP/../shared/corpus/nginx.bundle}"
NGINX="${GSH_NGINX:-/usr/sbin/nginx}"
DEMO="$TOP/build/demo"
ROOT="$DEMO/repos"
PUSH_USER=demo

case "$MODULE" in
    /*) ;;
    *) MODULE="$(pwd)/$MODULE" ;;
esac
if [ ! -f "$MODULE" ]; then
    echo "run.sh: module not found: $MODULE (run \`make\` first)" >&2
    exit 1
fi
if ! [[ "$PORT" =~ ^[0-9]+$ ]]; then
    echo "run.sh: PORT must be a number, not '$PORT'" >&2
    exit 1
fi

mkdir -p "$ROOT" "$DEMO/logs" "$DEMO/tmp"

# git without the user's or the system's configuration
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_TERMINAL_PROMPT=0
export GIT_AUTHOR_NAME="git-smart-http demo" GIT_AUTHOR_EMAIL=demo@example.invalid
export GIT_COMMITTER_NAME="$GIT_AUTHOR_NAME" GIT_COMMITTER_EMAIL="$GIT_AUTHOR_EMAIL"

# Each repository is made in a temporary directory and renamed into place
# when complete, so an interrupted run never leaves a half-made one behind
# that the next run would reuse.
make_repo() { # name, command... (the command gets the destination as $1)
    local name="$1"; shift
    if [ -d "$ROOT/$name" ]; then
        echo "reusing $ROOT/$name"
        return 0
    fi
    local tmp="$ROOT/.$name.tmp"
    rm -rf "$tmp"
    echo "preparing $ROOT/$name ..."
    "$@" "$tmp"
    touch "$tmp/git-daemon-export-ok"
    mv "$tmp" "$ROOT/$name"
}

corpus_mirror() {
    git clone -q --mirror "$CORPUS" "$1"
    git -C "$1" repack -q -a -d -b
}

self_clone() {
    git clone -q --bare "$TOP" "$1"
}

# A small repository to push to: a few commits that rewrite the same files,
# so that a blobless clone really leaves old blobs out.
sandbox() {
    local work="$1.work"
    rm -rf "$work"
    git init -q -b main "$work"
    local i
    for i in 1 2 3; do
        printf 'version %s of the demo text\n' "$i" >"$work/README"
        head -c 20000 /dev/urandom | base64 >"$work/data.txt"
        git -C "$work" add README data.txt
        git -C "$work" commit -q -m "sandbox: version $i"
    done
    git -C "$work" tag -a v1 -m "demo tag"
    git clone -q --bare "$work" "$1"
    rm -rf "$work"
}

if [ -f "$CORPUS" ]; then
    make_repo nginx.git corpus_mirror
else
    echo "run.sh: no nginx.git in this demo: the optional corpus bundle $CORPUS is not there" \
         "(GSH_CORPUS=<a git bundle> adds it)"
fi
# (the tree's own checkout, not one that merely contains it)
if [ "$(git -C "$TOP" rev-parse --show-toplevel 2>/dev/null)" = "$TOP" ]; then
    make_repo git-smart-http.git self_clone
    # the project's own clone is reused but brought up to date (cheap)
    git -C "$ROOT/git-smart-http.git" fetch -q --prune "$TOP" \
        '+refs/heads/*:refs/heads/*' '+refs/tags/*:refs/tags/*' \
        || echo "run.sh: could not update git-smart-http.git; serving it as it is" >&2
else
    echo "run.sh: $TOP is not a git repository: no git-smart-http.git in this demo"
fi
make_repo sandbox.git sandbox

# What the README's features need, set again on every run so that a demo
# root made by an older run gets them too. Only sandbox.git takes pushes.
for repo in "$ROOT"/*.git; do
    git -C "$repo" config uploadpack.allowFilter true
    git -C "$repo" config uploadpack.allowRefInWant true
    # a partial clone's lazy fetches over protocol v0 need it
    git -C "$repo" config uploadpack.allowReachableSHA1InWant true
    if [ "$(basename "$repo")" = sandbox.git ]; then
        git -C "$repo" config http.receivepack true
    else
        git -C "$repo" config http.receivepack false
    fi
done

# The push user's password: made once, kept in the demo directory.
if [ ! -s "$DEMO/push-password" ]; then
    openssl rand -hex 8 >"$DEMO/push-password"
fi
PUSH_PASSWORD="$(cat "$DEMO/push-password")"
printf '%s:%s\n' "$PUSH_USER" "$(openssl passwd -apr1 "$PUSH_PASSWORD")" >"$DEMO/htpasswd"

USER_LINE=""
if [ "$(id -u)" = 0 ]; then
    USER_LINE="user root;"
fi

cat > "$DEMO/nginx.conf" <<CONF
# generated by tests/demo/run.sh
load_module $MODULE;
$USER_LINE
worker_processes 2;
error_log stderr notice;
error_log $DEMO/logs/error.log notice;
pid $DEMO/nginx.pid;

events {
    worker_connections 1024;
}

http {
    log_format git '\$remote_addr \$git_user [\$time_local] "\$request" \$status '
                   '\$git_repo \$git_command v\$git_protocol filter=\$git_filter '
                   'objects=\$git_pack_objects bytes=\$git_pack_bytes \$git_status '
                   'rt=\$request_time';
    access_log /dev/stdout git;
    access_log $DEMO/logs/access.log git;
    client_body_temp_path $DEMO/tmp/client_body;
    proxy_temp_path $DEMO/tmp/proxy;
    fastcgi_temp_path $DEMO/tmp/fastcgi;
    uwsgi_temp_path $DEMO/tmp/uwsgi;
    scgi_temp_path $DEMO/tmp/scgi;
    client_max_body_size 100m;

    server {
        listen 127.0.0.1:$PORT;

        # anonymous clone and fetch of every repository
        location /git/ {
            git_smart_http on;
            git_smart_http_root $ROOT;
        }

        # the same repositories behind auth_basic, with push on; the
        # repositories' http.receivepack lets only sandbox.git take it
        location /push/ {
            auth_basic "git-smart-http demo";
            auth_basic_user_file $DEMO/htpasswd;
            git_smart_http on;
            git_smart_http_root $ROOT;
            git_smart_http_receive_pack on;
        }

        location = /metrics {
            git_smart_http_metrics;
            allow 127.0.0.1;
            deny all;
        }
    }
}
CONF

BASE="http://127.0.0.1:$PORT"
echo
echo "Serving $ROOT on $BASE/git/ (Ctrl-C stops)."
echo "  config:  $DEMO/nginx.conf"
echo "  logs:    $DEMO/logs/error.log (level notice), $DEMO/logs/access.log (also on stdout)"
echo "Try:"
if [ -d "$ROOT/nginx.git" ]; then
    echo "    git clone $BASE/git/nginx.git"
fi
if [ -d "$ROOT/git-smart-http.git" ]; then
    echo "    git clone $BASE/git/git-smart-http.git"
    echo "    git ls-remote $BASE/git/git-smart-http"
fi
echo "    git clone --filter=blob:none $BASE/git/sandbox.git     # partial clone"
echo "    git clone $BASE/push/sandbox.git    # push: user $PUSH_USER, password $PUSH_PASSWORD"
echo "    curl $BASE/metrics"
echo

exec "$NGINX" -p "$DEMO" -c nginx.conf -e stderr -g 'daemon off;'
