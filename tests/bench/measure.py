"""What the benchmark measures on the server side, and how.

Server CPU (the key figure)
---------------------------
Each side (module, reference) runs in its own accounting group:

1. a cgroup (preferred): v2 if a cgroup2 hierarchy is mounted and writable,
   else a v1 `cpuacct` hierarchy. The benchmark makes
   <our cgroup>/gsh-bench-<pid>/{module,reference} and starts each side's
   nginx (and, for the reference, fcgiwrap) inside its group; every process
   they fork is born there. The group's CPU counter (v2 `cpu.stat`
   usage_usec, v1 `cpuacct.usage`) counts user + system CPU of every process
   that is or was in the group, short-lived git http-backend / upload-pack /
   pack-objects included after they exit, at microsecond resolution.

2. /proc accounting (recorded as a cross-check, and the fallback when no
   cgroup can be made): the sum over the side's process tree (nginx master +
   workers; fcgiwrap + its preforked children) of utime + stime + cutime +
   cstime from /proc/PID/stat. An exited process reaches its parent's
   cutime/cstime only if the parent waits for it. For the module that is
   exact (nginx workers fork nothing). For the reference it is NOT: fcgiwrap's
   children set SIGCHLD to SIG_IGN (see /proc/PID/status SigIgn), so the
   kernel reaps each git http-backend itself and its CPU (with upload-pack
   and pack-objects, which it waited for) is added to nobody. Measured here:
   /proc sees ~5% of the reference's CPU. That is why the cgroup is the
   figure; without one, the benchmark says loudly that the reference is
   undercounted. bench.py also checks the cgroup figure against git
   http-backend run directly under wait4() (what /usr/bin/time reports).

Peak RSS
--------
VmHWM cannot be reset, and the reference's git processes live only during a
request, so a sampler thread reads /proc/PID/statm of every process of the
side every 10 ms (the cgroup's process list, or the process tree) and keeps
the peak of the SUM of resident memory, and of its anonymous part (resident
minus file-backed/shared pages: what the processes really allocate; the
rest is page cache of the pack files they map). A baseline is taken before
the scenario; "growth" = peak - baseline. A process living less than 10 ms
can be missed; clones last far longer.
"""

import os
import threading
import time
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def cgroup2_mount():
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                parts = line.split()
                if len(parts) > 2 and parts[2] == "cgroup2":
                    return Path(parts[1])
    except OSError:
        pass
    return None


def own_cgroup2_path():
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                if line.startswith("0::"):
                    return line[3:].strip()
    except OSError:
        pass
    return None


def cgroup1_cpuacct():
    """(mount point, our path) of a v1 hierarchy with cpuacct, or None."""
    mount = None
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                parts = line.split()
                if (len(parts) > 3 and parts[2] == "cgroup"
                        and "cpuacct" in parts[3].split(",")):
                    mount = Path(parts[1])
                    break
        if mount is None:
            return None
        with open("/proc/self/cgroup") as f:
            for line in f:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                if "cpuacct" in controllers.split(","):
                    return mount, path
    except (OSError, ValueError):
        pass
    return None


class CgroupParent:
    """<our cgroup>/gsh-bench-<pid>: made if possible, removed at the end.
    kind is "v2", "v1" (cpuacct) or None."""

    def __init__(self):
        self.path = None
        self.kind = None
        why = []
        mount, own = cgroup2_mount(), own_cgroup2_path()
        if mount is not None and own is not None:
            path = mount / own.lstrip("/") / ("gsh-bench-%d" % os.getpid())
            if self._make(path, "cpu.stat", why):
                self.kind = "v2"
        else:
            why.append("no cgroup2 hierarchy")
        if self.kind is None:
            v1 = cgroup1_cpuacct()
            if v1 is not None:
                path = v1[0] / v1[1].lstrip("/") / ("gsh-bench-%d"
                                                    % os.getpid())
                if self._make(path, "cpuacct.usage", why):
                    self.kind = "v1"
            else:
                why.append("no cpuacct hierarchy")
        self.why_not = "; ".join(why) if self.kind is None else None

    def _make(self, path, counter, why):
        try:
            path.mkdir()
        except OSError as e:
            why.append("cannot create %s (%s)" % (path, e))
            return False
        if not (path / counter).exists():
            path.rmdir()
            why.append("%s has no %s" % (path, counter))
            return False
        self.path = path
        return True

    def child(self, name):
        if self.path is None:
            return None
        p = self.path / name
        p.mkdir()
        return p

    def remove(self):
        if self.path is None:
            return
        for sub in sorted(self.path.iterdir()):
            if sub.is_dir():
                _remove_cgroup(sub)
        _remove_cgroup(self.path)
        self.path = None


def _remove_cgroup(path):
    # kill what is left (only our own processes can be in it), then wait for
    # the group to be empty before removing it
    kill = path / "cgroup.kill"
    procs = path / "cgroup.procs"
    try:
        left = [int(x) for x in procs.read_text().split()]
        if left and kill.exists():
            kill.write_text("1")
        else:
            for pid in left:
                try:
                    os.kill(pid, 9)
                except OSError:
                    pass
    except OSError:
        pass
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.05)


def _stat_fields(pid):
    with open("/proc/%d/stat" % pid, "rb") as f:
        data = f.read()
    return data[data.rfind(b")") + 2:].split()


def process_table():
    """{pid: (ppid, utime+stime+cutime+cstime ticks)} of every process."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            f = _stat_fields(int(entry))
        except (OSError, IndexError):
            continue
        # fields after "(comm) ": state=0 ppid=1 ... utime=11 stime=12
        # cutime=13 cstime=14
        table[int(entry)] = (int(f[1]), int(f[11]) + int(f[12])
                             + int(f[13]) + int(f[14]))
    return table


def descendants(table, roots):
    kids = {}
    for pid, (ppid, _) in table.items():
        kids.setdefault(ppid, []).append(pid)
    out, stack = [], [r for r in roots if r in table]
    while stack:
        pid = stack.pop()
        out.append(pid)
        stack.extend(kids.get(pid, ()))
    return out


class Group:
    """One side's processes: a cgroup (if any) and the root processes of its
    tree (nginx master, fcgiwrap), for the /proc figures."""

    def __init__(self, name, cgroup_dir=None, kind=None):
        self.name = name
        self.cgroup = cgroup_dir
        self.kind = kind
        self.procs_file = cgroup_dir / "cgroup.procs" if cgroup_dir else None
        self.roots = []   # filled once the servers run

    def pids(self):
        if self.cgroup is not None:
            try:
                return [int(x) for x in
                        self.procs_file.read_text().split()]
            except OSError:
                return []
        return descendants(process_table(), self.roots)

    def cgroup_cpu(self):
        """Seconds of CPU (user+system) of everything ever in the cgroup."""
        if self.cgroup is None:
            return None
        if self.kind == "v1":
            usage = int((self.cgroup / "cpuacct.usage").read_text()) / 1e9
            st = dict(line.split() for line in
                      (self.cgroup / "cpuacct.stat").read_text()
                      .splitlines())
            return {"total": usage, "user": int(st["user"]) / CLK_TCK,
                    "system": int(st["system"]) / CLK_TCK}
        usage = user = system = None
        for line in (self.cgroup / "cpu.stat").read_text().splitlines():
            k, v = line.split()
            if k == "usage_usec":
                usage = int(v) / 1e6
            elif k == "user_usec":
                user = int(v) / 1e6
            elif k == "system_usec":
                system = int(v) / 1e6
        return {"total": usage, "user": user, "system": system}

    def proc_cpu(self):
        """Seconds of CPU over the process tree, children waited for
        included (see the module docstring)."""
        table = process_table()
        pids = descendants(table, self.roots)
        return sum(table[p][1] for p in pids) / CLK_TCK

    def snapshot(self):
        return {"cgroup": self.cgroup_cpu(), "proc": self.proc_cpu(),
                "t": time.monotonic()}


def cpu_delta(before, after):
    """{"cpu": seconds (the figure), "cpu_proc": /proc figure, "cpu_user",
    "cpu_sys"}"""
    out = {"cpu_proc": after["proc"] - before["proc"]}
    if before["cgroup"] is not None and after["cgroup"] is not None:
        b, a = before["cgroup"], after["cgroup"]
        out["cpu"] = a["total"] - b["total"]
        out["cpu_user"] = a["user"] - b["user"]
        out["cpu_sys"] = a["system"] - b["system"]
    else:
        out["cpu"] = out["cpu_proc"]
    return out


def ignores_sigchld(pid):
    """True if the process has SIGCHLD set to SIG_IGN (its children are
    reaped by the kernel and never reach its cutime/cstime)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("SigIgn:"):
                    return bool(int(line.split()[1], 16) & (1 << 16))
    except OSError:
        pass
    return None


def rss_of(pids):
    """(sum of resident bytes, sum of anonymous resident bytes)."""
    total = anon = 0
    for pid in pids:
        try:
            with open("/proc/%d/statm" % pid, "rb") as f:
                parts = f.read().split()
        except OSError:
            continue
        resident, shared = int(parts[1]), int(parts[2])
        total += resident
        anon += resident - shared
    return total * PAGE, anon * PAGE


class RssSampler:
    """Samples the side's summed RSS every `interval` seconds in a thread
    until stopped; keeps the baseline (first sample) and the peaks."""

    def __init__(self, group, interval=0.01):
        self.group = group
        self.interval = interval
        self.stop_event = threading.Event()
        self.samples = 0
        self.base = self.peak = self.base_anon = self.peak_anon = 0
        self.peak_procs = 0
        self.thread = None

    def sample(self):
        pids = self.group.pids()
        total, anon = rss_of(pids)
        self.peak = max(self.peak, total)
        self.peak_anon = max(self.peak_anon, anon)
        self.peak_procs = max(self.peak_procs, len(pids))
        self.samples += 1
        return total, anon

    def __enter__(self):
        self.base, self.base_anon = self.sample()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _run(self):
        while not self.stop_event.wait(self.interval):
            self.sample()

    def __exit__(self, *exc):
        self.stop_event.set()
        self.thread.join()
        self.sample()

    def result(self):
        return {"rss_peak": self.peak, "rss_base": self.base,
                "rss_growth": self.peak - self.base,
                "anon_peak": self.peak_anon,
                "anon_growth": self.peak_anon - self.base_anon,
                "rss_samples": self.samples, "procs_peak": self.peak_procs}


class LogTail:
    """Reads what was appended to a file since the last call."""

    def __init__(self, path):
        self.path = Path(path)
        self.offset = self.size()

    def size(self):
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def read_new(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return ""
        # only whole lines
        cut = data.rfind(b"\n") + 1
        self.offset += cut
        return data[:cut].decode("utf-8", "replace")


def parse_access(text):
    """(requests, bytes sent, bytes received, {status: count}) of access-log
    lines written with the bench log_format ($request_length: request line,
    headers and body, so a push's pack)."""
    n = sent = received = 0
    statuses = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        n += 1
        sent += int(parts[1])
        received += int(parts[2])
        statuses[parts[0]] = statuses.get(parts[0], 0) + 1
    return n, sent, received, statuses


def wait_for(cond, timeout, interval=0.01, what="condition"):
    """Polls cond() until it is true; raises TimeoutError after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError("timed out waiting for %s" % what)
        time.sleep(interval)
