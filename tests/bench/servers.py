"""The two servers of the benchmark, each in its own accounting group.

  module     nginx (stock binary) + the module: location /git/
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
Minimal copies of the logic of tests/nginx/helpers.py (which belongs to the
nginx tests) live here: an inherited listening socket, so no port race and
no readiness polling; a process group per server, always stopped.
"""

import os
import shutil
import signal
import socket
import subprocess
from pathlib import Path

NGINX_BIN = os.environ.get("GSH_NGINX", "/usr/sbin/nginx")
FCGIWRAP_BIN = shutil.which("fcgiwrap") or "/usr/sbin/fcgiwrap"
HTTP_BACKEND = "/usr/lib/git-core/git-http-backend"

WORKER_PROCESSES = 2

FASTCGI = """
            fastcgi_pass unix:{sock};
            fastcgi_buffering off;
            fastcgi_request_buffering on;
            fastcgi_read_timeout 600s;
            fastcgi_split_path_info ^(/[a-z]+)(/.*)$;
            fastcgi_param SCRIPT_FILENAME {backend};
            fastcgi_param GIT_PROJECT_ROOT {root};
            fastcgi_param PATH_INFO $fastcgi_path_info;
            fastcgi_param QUERY_STRING $query_string;
            fastcgi_param REQUEST_METHOD $request_method;
            fastcgi_param CONTENT_TYPE $content_type;
            fastcgi_param CONTENT_LENGTH $content_length;
            fastcgi_param HTTP_GIT_PROTOCOL $http_git_protocol;
            fastcgi_param HTTP_CONTENT_ENCODING $http_content_encoding;
            fastcgi_param REMOTE_USER $remote_user;
            fastcgi_param REMOTE_ADDR $remote_addr;
            fastcgi_param SERVER_PROTOCOL $server_protocol;
            fastcgi_param GATEWAY_INTERFACE CGI/1.1;"""

MODULE_LOCATION = """
        location /git/ {
            git_smart_http on;
            git_smart_http_root {root};
        }"""

REFERENCE_LOCATION = """
        location /ref/ {%s
        }""" % FASTCGI


def free_listening_socket(host="127.0.0.1"):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, 0))
    s.listen(1024)
    # nginx does not touch an inherited socket's flags: a blocking one makes
    # a worker that loses the race for a connection block in accept() with
    # its other connections stuck until the next connection arrives
    s.setblocking(False)
    s.set_inheritable(True)
    return s


def stop_process_group(proc, first_signal, timeout=30):
    """first_signal to the leader, then SIGKILL to its process group (only
    processes this benchmark started are in it)."""
    if proc.poll() is None:
        try:
            os.kill(proc.pid, first_signal)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def _in_group(cmd, group):
    """The command, started inside the accounting group: a tiny shell moves
    itself into the cgroup and then execs the command, so every process it
    forks is born there."""
    if group is None or group.procs_file is None:
        return cmd
    return ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"',
            str(group.procs_file)] + [str(c) for c in cmd]


class Fcgiwrap:
    """fcgiwrap on a unix socket that is bound and listening before it
    starts (handed over on fd 0, the FastCGI convention)."""

    def __init__(self, directory, children, group=None):
        self.directory = Path(directory)
        self.socket_path = self.directory / "fcgiwrap.sock"
        self.log_path = self.directory / "fcgiwrap.stderr"
        self.children = children
        self.group = group
        self.proc = None

    def start(self):
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.socket_path.exists():
            self.socket_path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(self.socket_path))
        sock.listen(1024)
        os.chmod(self.socket_path, 0o666)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                _in_group([FCGIWRAP_BIN, "-c", str(self.children)],
                          self.group),
                stdin=sock.fileno(), stdout=subprocess.DEVNULL, stderr=log,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                start_new_session=True, close_fds=True)
        sock.close()
        return self

    def stop(self):
        if self.proc is not None:
            stop_process_group(self.proc, signal.SIGTERM, timeout=10)
            self.proc = None

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


class Nginx:
    """Stock nginx in the foreground with its own prefix. A second server
    block on its own port serves stub_status (not logged): the benchmark
    polls it to know when every connection of a scenario is closed, i.e.
    every request has finished and is in the access log."""

    def __init__(self, prefix, locations, module=None, group=None):
        self.prefix = Path(prefix)
        self.locations = locations
        self.module = module
        self.group = group
        self.proc = None
        self.port = None
        self.status_port = None
        self.conf_path = self.prefix / "conf" / "nginx.conf"
        self.error_log = self.prefix / "logs" / "error.log"
        self.access_log = self.prefix / "logs" / "access.log"
        self.stderr_log = self.prefix / "logs" / "stderr.log"

    def config_text(self):
        p = self.prefix
        lines = []
        if self.module is not None:
            lines.append("load_module %s;" % self.module)
        if os.geteuid() == 0:
            lines.append("user root;")
        lines += [
            "worker_processes %d;" % WORKER_PROCESSES,
            "daemon off;",
            "master_process on;",
            "pid %s;" % (p / "nginx.pid"),
            "error_log %s notice;" % self.error_log,
            "events { worker_connections 1024; }",
            "http {",
            "    log_format bench '$status $bytes_sent $request_length "
            "$request_time $request_method $uri';",
            "    access_log %s bench;" % self.access_log,
            "    client_body_temp_path %s;" % (p / "client_body_temp"),
            "    fastcgi_temp_path %s;" % (p / "fastcgi_temp"),
            "    proxy_temp_path %s;" % (p / "proxy_temp"),
            "    uwsgi_temp_path %s;" % (p / "uwsgi_temp"),
            "    scgi_temp_path %s;" % (p / "scgi_temp"),
            # what Debian's default nginx.conf sets, the same for both sides
            "    sendfile on;",
            "    tcp_nopush on;",
            "    keepalive_requests 100000;",
            "    client_max_body_size 100m;",
            "    server {",
            "        listen 127.0.0.1:%d;" % self.port,
            "        location / { return 404; }",
            self.locations,
            "    }",
            "    server {",
            "        listen 127.0.0.1:%d;" % self.status_port,
            "        access_log off;",
            "        location / { stub_status; }",
            "    }",
            "}",
        ]
        return "\n".join(lines) + "\n"

    def start(self):
        for d in ("conf", "logs", "client_body_temp", "fastcgi_temp",
                  "proxy_temp", "uwsgi_temp", "scgi_temp"):
            (self.prefix / d).mkdir(parents=True, exist_ok=True)
        sock = free_listening_socket()
        ssock = free_listening_socket()
        self.port = sock.getsockname()[1]
        self.status_port = ssock.getsockname()[1]
        self.conf_path.write_text(self.config_text())
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
               "NGINX": "%d;%d;" % (sock.fileno(), ssock.fileno())}
        test = subprocess.run(
            [NGINX_BIN, "-t", "-q", "-p", str(self.prefix), "-c",
             str(self.conf_path), "-e", str(self.error_log)],
            env={k: v for k, v in env.items() if k != "NGINX"},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if test.returncode != 0:
            sock.close()
            ssock.close()
            raise RuntimeError("nginx -t failed:\n%s\n--- %s ---\n%s" % (
                test.stdout, self.conf_path, self.conf_path.read_text()))
        with open(self.stderr_log, "ab") as err:
            self.proc = subprocess.Popen(
                _in_group([NGINX_BIN, "-p", str(self.prefix), "-c",
                           str(self.conf_path), "-e", str(self.error_log)],
                          self.group),
                stdin=subprocess.DEVNULL, stdout=err, stderr=err, env=env,
                pass_fds=(sock.fileno(), ssock.fileno()),
                start_new_session=True)
        sock.close()
        ssock.close()
        return self

    def stop(self):
        if self.proc is None:
            return None
        status = stop_process_group(self.proc, signal.SIGQUIT, timeout=30)
        self.proc = None
        return status

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def status(self, timeout=10):
        """stub_status as a dict: active, accepts, handled, requests,
        reading, writing, waiting."""
        s = socket.create_connection(("127.0.0.1", self.status_port),
                                     timeout=timeout)
        try:
            s.sendall(b"GET / HTTP/1.0\r\nHost: s\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        finally:
            s.close()
        body = data.split(b"\r\n\r\n", 1)[1].decode()
        words = body.split()
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
