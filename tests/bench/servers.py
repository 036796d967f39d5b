"""The two servers of the benchmark, each in its own accounting group.

  module     nginx (stock binary) + the module: location /git/, and
             /gitc/, the same with the pack cache (the cache-* rows)
  reference  nginx (the same binary, the same settings) + fcgiwrap +
             git http-backend: location /ref/, the way an operator deploys
             it (GIT_PROJECT_ROOT, git-daemon-export-ok files, FastCGI
             unbuffered so packs stream)

Why two nginx instances and not one: server CPU is measured per side, and
one nginx would run both sides in the same worker processes. With two, the
module's CPU is exactly its nginx's CPU, and the reference's CPU is its
nginx (which proxies every pack byte through FastCGI: part of the
reference's cost) plus fcgiwrap plus every git process. Both nginx have the
same worker_processes, events, keepalive and sendfile settings.

Each side is started inside its own cgroup (v2) when the machine lets us
create one (see measure.Group), so that everything it forks is counted.
Starting and stopping them is tests/lib/serving.py's, shared with the
nginx tests.
"""

import os
import socket
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
import serving  # noqa: E402
from serving import FASTCGI, HTTP_BACKEND, NGINX_BIN  # noqa: E402,F401

WORKER_PROCESSES = 2

MODULE_SETTINGS = """
            git_smart_http on;
            git_smart_http_root {root};
            client_max_body_size 0;
            # push-bigfile pushes one 200 MB object (the default is 128m;
            # git has no such limit)
            git_smart_http_max_object_size 256m;"""

MODULE_LOCATION = """
        location /git/ {%s
            git_smart_http_receive_pack on;
        }""" % MODULE_SETTINGS

# The module side only: the same location with the pack cache (issue 19),
# for the rows that measure it (bench.py's cache-*); its zone's folder is
# under the side's prefix, and the module's metrics (which count the cache's
# requests by status) are on the stub_status server, not logged.
PACK_CACHE_ZONE = "benchcache"
CACHE_PREFIX = "/gitc"
CACHE_LOCATION = """
        location %s/ {%s
            git_smart_http_pack_cache %s;
        }""" % (CACHE_PREFIX, MODULE_SETTINGS, PACK_CACHE_ZONE)
CACHE_PATH = ("    git_smart_http_pack_cache_path {prefix}/pack-cache "
              "keys_zone=%s:16m;" % PACK_CACHE_ZONE)
# Each worker's cache of the repositories it served: the default (64m) is
# for a small host; a server sizes it for the repositories it serves most,
# and this holds every bench repository (the rows are a warm server's).
REPO_CACHE_SIZE = "512m"
MODULE_HTTP = CACHE_PATH + "\n    git_smart_http_cache_size %s;" % REPO_CACHE_SIZE
# The module side only (issue 20): the same location publishing base packs
# and offering their URIs (packfile-uris), for the clone-uris row, whose
# clients go through an edge (Edge below) that keeps the published files:
# the module's CPU is then what an origin pays for such a clone.
OFFLOAD_PREFIX = "/gito"
OFFLOAD_LOCATION = """
        location %s/ {%s
            git_smart_http_publish {published} interval=1h;
            git_smart_http_packfile_uris on;
        }""" % (OFFLOAD_PREFIX, MODULE_SETTINGS)
METRICS_LOCATION = """
        location = /metrics { git_smart_http_metrics; }"""

# client_max_body_size 0: a push's request body is its whole pack.
REFERENCE_LOCATION = """
        location /ref/ {%s
            client_max_body_size 0;
        }""" % FASTCGI

# Both sides: the repositories' files as static files, for the row that
# sends a .pack the way stock nginx sends any file (the physical limit of a
# whole-pack clone).
STATIC_LOCATION = """
        location /static/ {
            alias {root}/;
        }"""


def _in_group(cmd, group):
    """The command, started inside the accounting group: a tiny shell moves
    itself into the cgroup and then execs the command, so every process it
    forks is born there."""
    if group is None or group.procs_file is None:
        return cmd
    return ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"',
            str(group.procs_file)] + [str(c) for c in cmd]


class Fcgiwrap(serving.Fcgiwrap):
    """fcgiwrap, born in the reference side's accounting group."""

    def __init__(self, directory, children, group=None):
        super().__init__(directory, children,
                         wrap=lambda cmd: _in_group(cmd, group))


class Nginx(serving.NginxProcess):
    """Stock nginx in the foreground with its own prefix. A second server
    block on its own port serves stub_status (not logged): the benchmark
    polls it to know when every connection of a scenario is closed, i.e.
    every request has finished and is in the access log."""

    listen_count = 2

    def __init__(self, prefix, locations, module=None, group=None,
                 http_lines="", status_locations=""):
        """http_lines: more of the http block ("{prefix}" is the prefix);
        status_locations: more locations of the status server."""
        super().__init__(prefix, module,
                         wrap=lambda cmd: _in_group(cmd, group))
        self.locations = locations
        self.group = group
        self.http_lines = http_lines.replace("{prefix}", str(self.prefix))
        self.status_locations = status_locations

    @property
    def status_port(self):
        return self.ports[1] if len(self.ports) > 1 else None

    def config_text(self, ports):
        lines = self.main_lines(WORKER_PROCESSES, "notice", 1024) + [
            "http {",
            "    log_format bench '$status $bytes_sent $request_length "
            "$request_time $request_method $uri $pid';",
            "    access_log %s bench;" % self.access_log,
        ] + self.temp_path_lines() + [
            # what Debian's default nginx.conf sets, the same for both sides
            "    sendfile on;",
            "    tcp_nopush on;",
            "    keepalive_requests 100000;",
            "    client_max_body_size 100m;",
        ] + ([self.http_lines] if self.http_lines else []) + [
            "    server {",
            "        listen 127.0.0.1:%d;" % ports[0],
            "        location / { return 404; }",
            self.locations,
            "    }",
            "    server {",
            "        listen 127.0.0.1:%d;" % ports[1],
            "        access_log off;",
            "        location / { stub_status; }",
        ] + ([self.status_locations] if self.status_locations else []) + [
            "    }",
            "}",
        ]
        return "\n".join(lines) + "\n"

    def status_get(self, path, timeout=10):
        """The body of a GET of path on the status server (HTTP/1.0)."""
        s = socket.create_connection(("127.0.0.1", self.status_port),
                                     timeout=timeout)
        try:
            s.sendall(b"GET %s HTTP/1.0\r\nHost: s\r\n\r\n"
                      % path.encode())
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        finally:
            s.close()
        head, _, body = data.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200") \
                and not head.startswith(b"HTTP/1.0 200"):
            raise RuntimeError("GET %s on the status server: %r"
                               % (path, head.split(b"\r\n", 1)[0]))
        return body.decode()

    def status(self, timeout=10):
        """stub_status as a dict: active, accepts, handled, requests,
        reading, writing, waiting."""
        words = self.status_get("/", timeout).split()
        # Active connections: N \n server accepts handled requests \n
        # A H R \n Reading: r Writing: w Waiting: k
        out = {"active": int(words[2])}
        out["accepts"], out["handled"], out["requests"] = (
            int(words[7]), int(words[8]), int(words[9]))
        out["reading"] = int(words[11])
        out["writing"] = int(words[13])
        out["waiting"] = int(words[15])
        return out

    def pids(self):
        """The master and its workers (from /proc)."""
        if self.proc is None:
            return []
        return [self.proc.pid] + children_of(self.proc.pid)

    def worker_pids(self):
        return children_of(self.proc.pid) if self.proc else []


class Edge(serving.NginxProcess):
    """A plain nginx in front of the module side, in no accounting group
    (it stands for a CDN): it keeps the published files and passes the
    rest through, each request on a connection of its own (so that the
    module side's connections all close once a row is done)."""

    def __init__(self, prefix, origin_port):
        super().__init__(prefix, None)
        self.origin_port = origin_port

    def config_text(self, ports):
        proxy = ("proxy_pass http://127.0.0.1:%d; proxy_http_version 1.1; "
                 "proxy_set_header Host $http_host;" % self.origin_port)
        lines = self.main_lines(1, "notice", 1024) + [
            "http {",
            "    access_log %s;" % self.access_log,
        ] + self.temp_path_lines() + [
            "    sendfile on;",
            "    proxy_cache_path %s keys_zone=edge:10m max_size=20g "
            "inactive=1d use_temp_path=off;" % (self.prefix / "cache"),
            "    server {",
            "        listen 127.0.0.1:%d;" % ports[0],
            '        location ~ "/published/(filter-[0-9a-f]{16}/)?'
            '(pack|bundle)-[0-9a-f]{40}\\.\\w+$" {',
            "            %s" % proxy,
            "            proxy_cache edge; proxy_cache_key $uri;",
            "            proxy_cache_valid 200 1d; proxy_cache_lock on;",
            "        }",
            "        location / {",
            "            %s" % proxy,
            "            proxy_buffering off; proxy_request_buffering off;",
            "            client_max_body_size 0; proxy_read_timeout 600s;",
            "        }",
            "    }",
            "}",
        ]
        return "\n".join(lines) + "\n"


def children_of(pid):
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry, "rb") as f:
                stat = f.read()
        except OSError:
            continue
        rest = stat[stat.rfind(b")") + 2:].split()
        if int(rest[1]) == pid:
            out.append(int(entry))
    return sorted(out)
