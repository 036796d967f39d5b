"""Limits shared by all workers (git_smart_http_max_concurrent,
git_smart_http_queue) and the pack progress timeout (git_smart_http_timeout).

Its own nginx, two workers. A pack is held in flight without timing guesses:
a raw client asks for the whole nginx corpus with a tiny receive buffer and
reads nothing, so the pack stops on back-pressure and keeps its slot until
the test closes the socket. A pack is made to stall with the core's
test-only hook GSH_TEST_PACK_STALL (a FIFO in the repository that the count
of a pack waits on until the test opens and closes it, or a stop ends it).
The state of the shared zone is read from the metrics location in bounded
polls.
"""

import errno
import glob
import os
import select
import signal
import socket
import subprocess
import threading
import time

import pytest

import helpers
from helpers import Nginx, check_pack, demux_sideband, parse_pkt_lines, \
    v2_request
from prometheus import fetch_metrics, wait_for

STALL_FIFO = "gsh-test-stall"
RPC = {"Git-Protocol": "version=2",
       "Content-Type": "application/x-git-upload-pack-request"}

HTTP = """
    server {
        listen 127.0.0.1:{port};
        git_smart_http_max_concurrent 1;
        git_smart_http_queue 1 timeout=60s;
        location / { return 404; }
        location /git/ {
            git_smart_http on;
            git_smart_http_root {root};
        }
        # inherits the server's limit: the same slots as /git/
        location /git2/ {
            git_smart_http on;
            git_smart_http_root {root};
        }
        location /gitq/ {
            git_smart_http on;
            git_smart_http_root {root};
            git_smart_http_max_concurrent 1;
            git_smart_http_queue 1 timeout=1s;
        }
        location /gitfifo/ {
            git_smart_http on;
            git_smart_http_root {root};
            git_smart_http_max_concurrent 1;
            git_smart_http_queue 2 timeout=60s;
        }
        location /gitt/ {
            git_smart_http on;
            git_smart_http_root {root};
            git_smart_http_max_concurrent off;
            git_smart_http_timeout 2s;
        }
        location /stall/ {
            git_smart_http on;
            git_smart_http_root {stallroot};
            git_smart_http_max_concurrent off;
            git_smart_http_timeout 1s;
        }
        location = /metrics { git_smart_http_metrics; }
    }
"""


@pytest.fixture(scope="module")
def limited(git, repos_root, corpus, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("limits")
    stallroot = tmp / "stallroot"
    stallroot.mkdir()
    git("clone", "-q", "--bare", repos_root / "small.git",
        stallroot / "stall.git")
    (stallroot / "stall.git" / "git-daemon-export-ok").touch()
    os.mkfifo(stallroot / "stall.git" / STALL_FIFO)
    body = HTTP.replace("{root}", str(repos_root)) \
        .replace("{stallroot}", str(stallroot))
    nginx = Nginx(tmp / "nginx", body, module=helpers.module_path(),
                  worker_processes=2, main_extra="env GSH_TEST_PACK_STALL;")
    nginx.extra_env["GSH_TEST_PACK_STALL"] = STALL_FIFO
    nginx.start()
    nginx.stallroot = stallroot
    nginx.tip = git("rev-parse", "HEAD", cwd=corpus)
    wait_for(nginx.port, lambda m: True, "an answer")
    yield nginx
    assert nginx.stop() == 0, nginx.read_error_log()[-5000:]


def fetch_body(tip):
    return v2_request("fetch", ["ofs-delta", "no-progress", "want " + tip,
                                "done"])


def raw_fetch(port, path, tip, rcvbuf=4096):
    """Sends a v2 fetch over HTTP/1.0 (the body ends at EOF, no chunking)
    and reads nothing: with a tiny receive buffer the pack soon waits for
    this client."""
    return helpers.open_fetch(port, path, fetch_body(tip), rcvbuf)


def read_until(s, marker):
    """What s sends up to and including marker (more may follow it)."""
    data = b""
    while marker not in data:
        chunk = s.recv(4096)
        assert chunk, data[-200:]
        data += chunk
    return data


def read_all(s, start=b""):
    data = [start]
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        data.append(chunk)
    s.close()
    head, _, body = b"".join(data).partition(b"\r\n\r\n")
    return head, body


def in_flight(n):
    return lambda m: m.get("git_smart_http_packs_in_flight") == n


def queued(n):
    return lambda m: m.get("git_smart_http_requests_queued") == n


def wait_stalled(nginx, timeout=60):
    """Returns once a process holds the stall FIFO open for reading: the
    test hook, on a pool thread, waiting for stall_release()."""
    fifo = str(nginx.stallroot / "stall.git" / STALL_FIFO)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for fd_dir in glob.glob("/proc/[0-9]*/fd"):
            try:
                links = [os.readlink(os.path.join(fd_dir, fd))
                         for fd in os.listdir(fd_dir)]
            except OSError:
                continue
            if fifo in links:
                return
        time.sleep(0.02)
    raise AssertionError("no count waits on " + fifo)


def stall_release(nginx):
    """Lets a count waiting on the FIFO go on: an open for writing meets
    its open for reading; the close gives it EOF. A count that the timeout
    ended has closed the FIFO already: nothing to release then."""
    try:
        fd = os.open(nginx.stallroot / "stall.git" / STALL_FIFO,
                     os.O_WRONLY | os.O_NONBLOCK)
    except OSError as e:
        if e.errno != errno.ENXIO:
            raise
        return
    os.close(fd)


def test_second_pack_waits_third_gets_429(git, limited, tmp_path):
    port = limited.port
    held = raw_fetch(port, "/git/nginx.git/git-upload-pack", limited.tip)
    clone = None
    try:
        wait_for(port, in_flight(1), "the held pack in its slot")

        # a real clone: its fetch waits in the queue of the same limit
        clone = subprocess.Popen(
            ["git", "-c", "protocol.version=2", "clone", "-q", "--bare",
             "http://127.0.0.1:%d/git/small.git" % port, tmp_path / "c.git"],
            env=git.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True)
        wait_for(port, queued(1), "the clone's fetch in the queue")

        # /git2/ inherits the server's limit: the queue is full there too
        res = limited.http("POST", "/git2/small.git/git-upload-pack", RPC,
                           fetch_body(git("rev-parse", "main",
                                          cwd=limited.stallroot /
                                          "stall.git")))
        assert res.status == 429, res
        assert res.header("Retry-After") == "60"

        # adverts, ls-refs and ls-remote are never queued behind packs
        res = limited.http("GET", "/git/small.git/info/refs"
                           "?service=git-upload-pack",
                           {"Git-Protocol": "version=2"})
        assert res.status == 200
        res = limited.http("POST", "/git/small.git/git-upload-pack", RPC,
                           v2_request("ls-refs", ["ref-prefix refs/heads/"]))
        assert res.status == 200 and b"refs/heads/main" in res.body
        out = git("ls-remote", "http://127.0.0.1:%d/git/small.git" % port)
        assert "refs/heads/main" in out
        assert clone.poll() is None

        m = fetch_metrics(port)
        assert m.get("git_smart_http_errors_total", kind="limit") >= 1
    finally:
        # the held client goes away: its slot goes to the waiting clone
        held.close()
        if clone is not None:
            out, err = clone.communicate(timeout=120)
    assert clone.returncode == 0, err
    git("fsck", "--no-progress", cwd=tmp_path / "c.git")
    wait_for(port, lambda m: in_flight(0)(m) and queued(0)(m),
             "every slot free again")


def test_queue_timeout_gives_429(git, limited):
    port = limited.port
    held = raw_fetch(port, "/gitq/nginx.git/git-upload-pack", limited.tip)
    try:
        wait_for(port, in_flight(1), "the held pack in its slot")
        before = fetch_metrics(port).get("git_smart_http_errors_total",
                                         kind="queue_timeout")
        tip = git("rev-parse", "main", cwd=limited.stallroot / "stall.git")
        res = limited.http("POST", "/gitq/small.git/git-upload-pack", RPC,
                           fetch_body(tip))
        assert res.status == 429, res
        assert res.header("Retry-After") == "1"
        m = fetch_metrics(port)
        assert m.get("git_smart_http_errors_total",
                     kind="queue_timeout") == before + 1
        assert m.get("git_smart_http_requests_queued") == 0
    finally:
        held.close()
    wait_for(port, in_flight(0), "the slot free again")


def test_waiting_client_that_leaves_frees_its_place(git, limited):
    port = limited.port
    held = raw_fetch(port, "/git/nginx.git/git-upload-pack", limited.tip)
    try:
        wait_for(port, in_flight(1), "the held pack in its slot")
        waiter = raw_fetch(port, "/git/nginx.git/git-upload-pack",
                           limited.tip)
        wait_for(port, queued(1), "the second request in the queue")
        waiter.close()
        wait_for(port, queued(0), "the queue empty after the client left")
        # its place is free: another request can queue (and gets the slot)
        result = {}
        tip = git("rev-parse", "main", cwd=limited.stallroot / "stall.git")

        def fetch():
            result["res"] = limited.http(
                "POST", "/git/small.git/git-upload-pack", RPC,
                fetch_body(tip))
        t = threading.Thread(target=fetch)
        t.start()
        wait_for(port, queued(1), "a new request in the queue")
    finally:
        held.close()
    t.join(120)
    assert result["res"].status == 200
    items = parse_pkt_lines(result["res"].body)
    pack, _, err = demux_sideband(items[items.index(b"packfile\n") + 1:])
    assert err == b""
    assert check_pack(pack) > 0
    wait_for(port, in_flight(0), "the slot free again")


@pytest.mark.kills_workers
def test_slot_of_a_killed_worker_is_reclaimed(git, limited):
    port = limited.port
    held = raw_fetch(port, "/git/nginx.git/git-upload-pack", limited.tip)
    try:
        wait_for(port, in_flight(1), "the held pack in its slot")
        master = limited.proc.pid
        workers = [int(p) for p in subprocess.run(
            ["pgrep", "-P", str(master)], stdout=subprocess.PIPE,
            text=True).stdout.split()]
        assert len(workers) == 2
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        # the master starts new workers; they reclaim the dead ones' slots
        wait_for(port, in_flight(0), "the dead worker's slot reclaimed")
    finally:
        held.close()
    tip = git("rev-parse", "main", cwd=limited.stallroot / "stall.git")
    res = limited.http("POST", "/git/small.git/git-upload-pack", RPC,
                       fetch_body(tip))
    assert res.status == 200
    assert b"packfile\n" in res.body


def test_limit_keeps_its_slots_across_reload(git, limited):
    """After `nginx -s reload` a pack still running in an old worker
    counts against the limit written at the same place of the new
    configuration: the new workers' request waits, then gets 429."""
    port = limited.port
    held = raw_fetch(port, "/gitq/nginx.git/git-upload-pack", limited.tip)
    try:
        wait_for(port, in_flight(1), "the held pack in its slot")
        old = children(limited)
        os.kill(limited.proc.pid, signal.SIGHUP)
        for _ in range(1200):
            if len(children(limited) - old) == 2:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("no new workers after the reload")
        # (the old worker that holds the pack is still there, shutting down)
        tip = git("rev-parse", "main", cwd=limited.stallroot / "stall.git")
        res = limited.http("POST", "/gitq/small.git/git-upload-pack", RPC,
                           fetch_body(tip))
        assert res.status == 429, res
        assert fetch_metrics(port).get("git_smart_http_packs_in_flight") == 1
    finally:
        held.close()
    wait_for(port, in_flight(0), "the slot free again")
    tip = git("rev-parse", "main", cwd=limited.stallroot / "stall.git")
    assert limited.http("POST", "/gitq/small.git/git-upload-pack", RPC,
                        fetch_body(tip)).status == 200


def children(nginx):
    out = subprocess.run(["pgrep", "-P", str(nginx.proc.pid)],
                         stdout=subprocess.PIPE, text=True).stdout
    return set(int(p) for p in out.split())


def worker_of(nginx, s):
    """The pid of the worker that accepted client socket s (its server
    end's inode in /proc/net/tcp, found among the workers' descriptors),
    or None while no worker has accepted it."""
    port = s.getsockname()[1]
    inode = None
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            local, remote = fields[1], fields[2]
            if int(local.split(":")[1], 16) == nginx.port and \
                    int(remote.split(":")[1], 16) == port:
                inode = fields[9]
    if inode is None or inode == "0":
        return None
    for pid in children(nginx):
        try:
            for fd in os.listdir("/proc/%d/fd" % pid):
                if os.readlink("/proc/%d/fd/%s" % (pid, fd)) == \
                        "socket:[%s]" % inode:
                    return pid
        except OSError:
            continue
    return None


def connect_to_worker(nginx, want):
    """A connection (tiny receive buffer, no request yet) that a worker
    for which want(pid) holds has accepted; the kernel picks the worker, so
    others are closed and tried again."""
    for _ in range(200):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(120)
        s.connect(("127.0.0.1", nginx.port))
        for _ in range(400):
            pid = worker_of(nginx, s)
            if pid is not None:
                break
            time.sleep(0.005)
        if pid is not None and want(pid):
            return s, pid
        s.close()
    raise AssertionError("no connection reached the wanted worker")


def send_fetch(s, path, tip):
    body = fetch_body(tip)
    s.sendall(b"POST %s HTTP/1.0\r\nHost: 127.0.0.1\r\n"
              b"Git-Protocol: version=2\r\n"
              b"Content-Type: application/x-git-upload-pack-request\r\n"
              b"Content-Length: %d\r\n\r\n" % (path.encode(), len(body))
              + body)


def test_queue_is_first_come_first_served_across_workers(git, limited):
    """The pack in the slot runs in worker A; the first waiter came to
    worker B, the second to A. When A's pack ends, the slot goes to B's
    waiter (it came first), not to A's own."""
    port = limited.port
    path = "/gitfifo/nginx.git/git-upload-pack"
    socks = []
    try:
        held, a = connect_to_worker(limited, lambda pid: True)
        socks.append(held)
        send_fetch(held, path, limited.tip)
        wait_for(port, in_flight(1), "the held pack in its slot")
        first, b = connect_to_worker(limited, lambda pid: pid != a)
        socks.append(first)
        send_fetch(first, path, limited.tip)
        wait_for(port, queued(1), "the first waiter in the queue")
        second, _ = connect_to_worker(limited, lambda pid: pid == a)
        socks.append(second)
        send_fetch(second, path, limited.tip)
        wait_for(port, queued(2), "the second waiter in the queue")
        held.close()
        wait_for(port, lambda m: in_flight(1)(m) and queued(1)(m),
                 "the slot given to one waiter")
        # the one with the slot gets its response; the other waits on
        assert first.recv(64).startswith(b"HTTP/1.1 200"), "first waiter"
        readable, _, _ = select.select([second], [], [], 0)
        assert not readable, "the second waiter got the slot first"
        first.close()
        wait_for(port, lambda m: in_flight(1)(m) and queued(0)(m),
                 "the slot given to the second waiter")
        assert second.recv(64).startswith(b"HTTP/1.1 200")
    finally:
        for s in socks:
            s.close()
    wait_for(port, in_flight(0), "every slot free again")


def test_stalled_pack_ends_with_sideband_3(git, limited, tmp_path):
    port = limited.port
    before = fetch_metrics(port).get("git_smart_http_errors_total",
                                     kind="pack_timeout")
    clone = subprocess.Popen(
        ["git", "-c", "protocol.version=2", "clone", "-q", "--bare",
         "http://127.0.0.1:%d/stall/stall.git" % port, tmp_path / "s.git"],
        env=git.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True)
    try:
        wait_for(port, lambda m: m.get("git_smart_http_errors_total",
                                       kind="pack_timeout") == before + 1,
                 "the progress timeout")
    finally:
        stall_release(limited)
    out, err = clone.communicate(timeout=120)
    assert clone.returncode != 0
    # git shows side-band 3 as "remote: ..." when it goes on to fail
    assert b"remote: pack generation made no progress within " \
           b"git_smart_http_timeout" in err, err


def test_slow_client_is_not_a_stalled_pack(git, limited, corpus):
    """A client that reads nothing for longer than git_smart_http_timeout
    gets its whole pack: only the core's own silence counts. Three stalled
    packs of 1 s each, timed out one after the other, are the clock for the
    2 s of /gitt/ (2 s, not 1 s: a loaded sanitizer build has been seen to
    go 1 s between two check-ins while counting the corpus)."""
    port = limited.port
    slow = raw_fetch(port, "/gitt/nginx.git/git-upload-pack", limited.tip)
    try:
        # The count and the plan are the core's work, which the timeout
        # does watch: the clock starts once the pack itself flows.
        start = read_until(slow, b"\x01PACK")
        stalled_results = []
        tip = git("rev-parse", "main", cwd=limited.stallroot / "stall.git")
        for round in range(3):
            before = fetch_metrics(port).get("git_smart_http_errors_total",
                                             kind="pack_timeout")
            stalled = threading.Thread(target=lambda: stalled_results.append(
                limited.http("POST", "/stall/stall.git/git-upload-pack", RPC,
                             fetch_body(tip))))
            stalled.start()
            try:
                wait_for(port, lambda m: m.get(
                    "git_smart_http_errors_total",
                    kind="pack_timeout") == before + 1, "a timeout")
            finally:
                stall_release(limited)
            stalled.join(120)
        head, body = read_all(slow, start)
    finally:
        slow.close()
    for res in stalled_results:
        # the stalled packs: the side-band 3 message, then the end
        assert res.status == 200
        items = parse_pkt_lines(res.body)
        _, _, err = demux_sideband(items[items.index(b"packfile\n") + 1:])
        assert err == b"pack generation made no progress within " \
                      b"git_smart_http_timeout\n"
    assert len(stalled_results) == 3
    assert head.startswith(b"HTTP/1.1 200"), head
    items = parse_pkt_lines(body)
    pack, _, err = demux_sideband(items[items.index(b"packfile\n") + 1:])
    assert err == b""
    assert check_pack(pack) == int(git("rev-list", "--objects", "--count",
                                       limited.tip, cwd=corpus))


POOL_HTTP = """
    log_format poolfmt '$status $git_status';
    server {
        listen 127.0.0.1:{port};
        access_log {log} poolfmt;
        location / { return 404; }
        location /stall/ {
            git_smart_http on;
            git_smart_http_root {stallroot};
            git_smart_http_thread_pool gsh;
        }
        location /git/ {
            git_smart_http on;
            git_smart_http_root {root};
            git_smart_http_thread_pool gsh;
        }
        location = /metrics { access_log off; git_smart_http_metrics; }
    }
"""


def test_named_thread_pool_is_the_one_used(git, limited, repos_root,
                                           tmp_path):
    """git_smart_http_thread_pool gsh runs the work on pool gsh, not on
    nginx's default one (32 threads): with gsh at one thread and a queue of
    one, a stalled pack holds the thread, a second request waits in the
    queue, and a third overflows it. nginx names the pool in that error,
    the request is a 500, logged as $git_status "error" and counted as
    errors_total{kind="server_error"}."""
    log = tmp_path / "pool.log"
    body = POOL_HTTP.replace("{root}", str(repos_root)) \
        .replace("{stallroot}", str(limited.stallroot)) \
        .replace("{log}", str(log))
    # one worker: a thread pool is per worker process
    nginx = Nginx(tmp_path / "nginx", body, module=helpers.module_path(),
                  worker_processes=1,
                  main_extra="env GSH_TEST_PACK_STALL;\n"
                             "thread_pool gsh threads=1 max_queue=1;")
    nginx.extra_env["GSH_TEST_PACK_STALL"] = STALL_FIFO
    nginx.start()
    port = nginx.port
    results = {}
    threads = []
    try:
        wait_for(port, lambda m: True, "an answer")
        tip = git("rev-parse", "main", cwd=limited.stallroot / "stall.git")

        def post(name, path):
            try:
                results[name] = nginx.http("POST", path, RPC,
                                           fetch_body(tip))
            except Exception as e:  # reported by the assertions below
                results[name] = e
        stalled = threading.Thread(target=post, args=(
            "stalled", "/stall/stall.git/git-upload-pack"))
        stalled.start()
        threads.append(stalled)
        # its count waits on the FIFO, holding gsh's only thread
        wait_stalled(limited)
        queued = threading.Thread(target=post, args=(
            "queued", "/git/small.git/git-upload-pack"))
        queued.start()
        threads.append(queued)
        wait_for(port, lambda m: m.get("git_smart_http_requests_in_flight")
                 == 2, "the second request in the pool's queue")
        # nginx posts the request's task once its body is read; the queue
        # is full then, whatever the order of this poll and that post
        overflow = nginx.http("POST", "/git/small.git/git-upload-pack", RPC,
                              fetch_body(tip))
        assert overflow.status == 500, overflow
        assert 'thread pool "gsh" queue overflow' in nginx.read_error_log()
        m = wait_for(port, lambda m: m.get("git_smart_http_errors_total",
                                           kind="server_error") == 1,
                     "the 500 counted")
        assert "queued" not in results
    finally:
        stall_release(limited)
        for t in threads:
            t.join(120)
        status = nginx.stop()
    assert status == 0, nginx.read_error_log()[-5000:]
    assert not isinstance(results["queued"], Exception), results["queued"]
    assert results["queued"].status == 200
    assert b"packfile\n" in results["queued"].body
    lines = helpers.wait_log_lines(log, 0, 3)
    # the stalled pack ended with side-band 3: "aborted", or "error" when
    # the task that was to send that end found the one-place queue full
    # (the queued request's task not yet taken by the thread)
    assert sorted(lines) == ["200 ok", "200 ok", "500 error"], lines
    assert results["stalled"].status == 200
    assert b"packfile\n" in results["stalled"].body


FULL_HTTP = """
    server {
        listen 127.0.0.1:{port} backlog=2048;
        location / { return 404; }
        location /git/ {
            git_smart_http on;
            git_smart_http_root {root};
            git_smart_http_max_concurrent 1;
            git_smart_http_queue 1000 timeout=60s;
        }
        location /git2/ {
            git_smart_http on;
            git_smart_http_root {root};
            git_smart_http_max_concurrent 1;
            git_smart_http_queue 1000 timeout=60s;
        }
        location = /metrics { git_smart_http_metrics; }
    }
"""
HOLDERS = 1024  # the zone's entries: running and waiting packs together


def test_full_zone_gives_503(git, limited, repos_root, tmp_path):
    """Two limits of 1 slot and 1000 places each: a pack running in each,
    then 1022 waiting fill the zone's 1024 entries, though neither queue
    is full: the next request is 503 with Retry-After, counted as
    errors_total{kind="zone_full"}."""
    nginx = Nginx(tmp_path / "nginx",
                  FULL_HTTP.replace("{root}", str(repos_root)),
                  module=helpers.module_path(), worker_processes=1,
                  worker_connections=HOLDERS + 200)
    nginx.start()
    port = nginx.port
    socks = []
    try:
        wait_for(port, lambda m: True, "an answer")
        for loc in ("/git/", "/git2/"):
            socks.append(raw_fetch(port, loc + "nginx.git/git-upload-pack",
                                   limited.tip))
        wait_for(port, in_flight(2), "the held packs in their slots")
        tip = git("rev-parse", "main", cwd=repos_root / "small.git")
        for i in range(HOLDERS - 2):
            loc = "/git/" if i < 1000 else "/git2/"
            socks.append(raw_fetch(port, loc + "small.git/git-upload-pack",
                                   tip))
        wait_for(port, queued(HOLDERS - 2), "the zone full")
        res = nginx.http("POST", "/git2/small.git/git-upload-pack", RPC,
                         fetch_body(tip))
        assert res.status == 503, res
        assert res.header("Retry-After") == "60"
        m = fetch_metrics(port)
        assert m.get("git_smart_http_errors_total", kind="zone_full") == 1
    finally:
        for s in socks:
            s.close()
        try:
            wait_for(port, lambda m: in_flight(0)(m) and queued(0)(m),
                     "the zone empty again")
        finally:
            status = nginx.stop()
    assert status == 0, nginx.read_error_log()[-5000:]
