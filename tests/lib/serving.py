"""Starting and stopping the servers the nginx tests and the benchmark both
run: stock nginx with its own prefix, fcgiwrap in front of git http-backend.

Every server gets its listening socket already bound and listening (nginx
inherits it through NGINX=<fd>;, fcgiwrap takes it on fd 0), so there is no
port race and no readiness polling, and each runs in a process group of its
own that is always stopped again. What differs between the two users (the
nginx configuration, an accounting cgroup, dying with the test process) is
passed in.
"""

import os
import shutil
import signal
import socket
import subprocess
from pathlib import Path

# tests/lib/serving.py -> parents[2] is the repository top.
REPO_TOP = Path(__file__).resolve().parents[2]
NGINX_BIN = os.environ.get("GSH_NGINX", "/usr/sbin/nginx")
FCGIWRAP_BIN = shutil.which("fcgiwrap") or "/usr/sbin/fcgiwrap"
HTTP_BACKEND = "/usr/lib/git-core/git-http-backend"

# git http-backend as an operator deploys it: the location's prefix is cut
# off into PATH_INFO, FastCGI unbuffered so that packs stream. {sock},
# {backend} and {root} are filled in by the user.
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

# Told of every NginxProcess that starts and stops: observer.started(nginx)
# just before the master is launched, observer.stopped(nginx, status) once
# it is gone. The nginx tests' crash watch adds itself (tests/nginx/
# log_watch.py); the bench adds nothing.
OBSERVERS = []

TEMP_DIRS = ("client_body_temp", "fastcgi_temp", "proxy_temp", "uwsgi_temp",
             "scgi_temp")


def free_listening_socket(host="127.0.0.1", backlog=1024):
    """A TCP socket bound to a free port and already listening: connections
    queue in its backlog until a worker accepts."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, 0))
    s.listen(backlog)
    # nginx sets the sockets it opens itself non-blocking, but trusts an
    # inherited one to be so already: a blocking one would make an idle
    # worker sleep in accept() with its other connections stuck.
    s.setblocking(False)
    s.set_inheritable(True)
    return s


def module_path():
    """The module to load: env GSH_MODULE (relative to the current directory
    or to the repository top), default <top>/build/<module>.so."""
    value = os.environ.get("GSH_MODULE")
    if not value:
        return REPO_TOP / "build" / "ngx_http_git_smart_http_module.so"
    p = Path(value)
    if p.is_absolute():
        return p
    if p.exists():
        return p.resolve()
    return (REPO_TOP / p).resolve()


def stop_process_group(proc, first_signal, timeout=30):
    """Stops a child started with start_new_session=True: first_signal to
    the leader, then SIGKILL to its whole process group (only processes we
    started are in it). Returns the leader's exit status, or None."""
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


def read_text_from(path, offset=0):
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def size_of(path):
    try:
        return Path(path).stat().st_size
    except OSError:
        return 0


class Fcgiwrap:
    """fcgiwrap on a unix socket that is bound and listening before it
    starts (handed over on fd 0, the FastCGI convention fcgiwrap follows
    when -s is not given). wrap(cmd) may change the command line (to start
    it in a cgroup); preexec_fn runs in the child before exec."""

    def __init__(self, directory, children=4, wrap=None, preexec_fn=None,
                 backlog=1024):
        self.directory = Path(directory)
        self.socket_path = self.directory / "fcgiwrap.sock"
        self.log_path = self.directory / "fcgiwrap.stderr"
        self.children = children
        self.wrap = wrap or (lambda cmd: cmd)
        self.preexec_fn = preexec_fn
        self.backlog = backlog
        self.proc = None

    def start(self):
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.socket_path.exists():
            self.socket_path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(self.socket_path))
        sock.listen(self.backlog)
        os.chmod(self.socket_path, 0o666)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.wrap([FCGIWRAP_BIN, "-c", str(self.children)]),
                stdin=sock.fileno(), stdout=subprocess.DEVNULL, stderr=log,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                start_new_session=True, close_fds=True,
                preexec_fn=self.preexec_fn)
        sock.close()
        return self

    def stop(self):
        if self.proc is not None:
            stop_process_group(self.proc, signal.SIGTERM, timeout=10)
            self.proc = None

    def log(self):
        return read_text_from(self.log_path)


class NginxProcess:
    """The stock nginx binary in the foreground (daemon off) with its own
    prefix: conf, pid, logs and every temp path live under `prefix`.
    Subclasses write the configuration: config_text(ports) gets the ports
    of the listening sockets, listen_count of them."""

    listen_count = 1

    def __init__(self, prefix, module=None, wrap=None, preexec_fn=None,
                 env=None):
        self.prefix = Path(prefix)
        self.module = module
        self.wrap = wrap or (lambda cmd: cmd)
        self.preexec_fn = preexec_fn
        self.extra_env = env or {}
        self.proc = None
        self.ports = []
        self.conf_path = self.prefix / "conf" / "nginx.conf"
        self.error_log = self.prefix / "logs" / "error.log"
        self.access_log = self.prefix / "logs" / "access.log"
        self.stderr_log = self.prefix / "logs" / "stderr.log"

    @property
    def port(self):
        return self.ports[0] if self.ports else None

    def main_lines(self, worker_processes, error_level, worker_connections):
        """The main context: the module, the user, the prefix's files."""
        lines = []
        if self.module is not None:
            lines.append("load_module %s;" % self.module)
        if os.geteuid() == 0:
            # workers must be able to read the repositories
            lines.append("user root;")
        return lines + [
            "worker_processes %d;" % worker_processes,
            "daemon off;",
            "master_process on;",
            "pid %s;" % (self.prefix / "nginx.pid"),
            "error_log %s %s;" % (self.error_log, error_level),
            "events { worker_connections %d; }" % worker_connections,
        ]

    def temp_path_lines(self):
        return ["    %s_path %s;" % (d, self.prefix / d) for d in TEMP_DIRS]

    def config_text(self, ports):
        raise NotImplementedError

    def start(self):
        for d in ("conf", "logs") + TEMP_DIRS:
            (self.prefix / d).mkdir(parents=True, exist_ok=True)
        socks = [free_listening_socket() for _ in range(self.listen_count)]
        self.ports = [s.getsockname()[1] for s in socks]
        self.conf_path.write_text(self.config_text(self.ports))
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        env.update(self.extra_env)
        # Check the configuration first: a clear error instead of a hang.
        test = subprocess.run(
            [NGINX_BIN, "-t", "-q", "-p", str(self.prefix), "-c",
             str(self.conf_path), "-e", str(self.error_log)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True)
        if test.returncode != 0:
            for s in socks:
                s.close()
            raise RuntimeError("nginx -t failed:\n%s\n--- %s ---\n%s" % (
                test.stdout, self.conf_path, self.conf_path.read_text()))
        # the inherited listening sockets (what nginx uses for binary
        # upgrades): "fd;fd;"
        env["NGINX"] = "".join("%d;" % s.fileno() for s in socks)
        for observer in OBSERVERS:
            observer.started(self)
        with open(self.stderr_log, "ab") as err:
            self.proc = subprocess.Popen(
                self.wrap([NGINX_BIN, "-p", str(self.prefix), "-c",
                           str(self.conf_path), "-e", str(self.error_log)]),
                stdin=subprocess.DEVNULL, stdout=err, stderr=err, env=env,
                pass_fds=tuple(s.fileno() for s in socks),
                start_new_session=True, preexec_fn=self.preexec_fn)
        # nginx holds the sockets now; with our copies closed, a failed
        # start gives "connection refused" instead of a hang.
        for s in socks:
            s.close()
        return self

    def stop(self):
        """Graceful stop (SIGQUIT), then SIGKILL to the group. Returns the
        master's exit status (None if unknown)."""
        if self.proc is None:
            return None
        status = stop_process_group(self.proc, signal.SIGQUIT, timeout=30)
        self.proc = None
        for observer in OBSERVERS:
            observer.stopped(self, status)
        return status

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def read_error_log(self, offset=0):
        return read_text_from(self.error_log, offset)

    def read_stderr(self, offset=0):
        """nginx's own stderr (before error.log is open, and sanitizer
        reports written before the workers redirect stderr)."""
        return read_text_from(self.stderr_log, offset)

    def stderr_size(self):
        return size_of(self.stderr_log)

    def error_log_size(self):
        return size_of(self.error_log)
