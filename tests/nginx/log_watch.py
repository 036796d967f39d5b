"""The crash watch over every nginx a test starts, the shared server or a
test file's own: a worker that died by a signal is restarted by the master
and the next request succeeds, so only the logs tell. Every
serving.NginxProcess reports its start and stop here (serving.OBSERVERS);
conftest.py checks, after each test, what every instance wrote to error.log
and to its stderr log since the last check, and, when one stops, what it
wrote until it was gone (a crash or a leak report at shutdown).
"""

import re

import serving

# A worker gone by a signal, a sanitizer report, nginx's two highest levels.
FATAL_MARKERS = ("exited on signal", "AddressSanitizer", "LeakSanitizer",
                 "runtime error:", "[alert]", "[emerg]")

# What a test marked kills_workers may leave: the master's line for a
# worker it lost to SIGKILL (that line is itself an [alert]), nothing else.
KILLED_BY_TEST = re.compile(
    r"\[alert\] \d+#\d+: worker process \d+ exited on signal 9$")


def fatal_lines(text, kills_workers=False):
    """The lines of text that show a crash, a sanitizer report or an
    [alert]/[emerg]; with kills_workers, the SIGKILLs of the test's own
    os.kill() are not counted."""
    bad = []
    for line in text.splitlines():
        if not any(m in line for m in FATAL_MARKERS):
            continue
        if kills_workers and KILLED_BY_TEST.search(line):
            continue
        bad.append(line)
    return bad


class _Watched:
    def __init__(self, nginx):
        self.nginx = nginx
        self.error_offset = nginx.error_log_size()
        self.stderr_offset = nginx.stderr_size()

    def read_new(self):
        """What error.log and stderr got since the last read."""
        nginx = self.nginx
        error_size = nginx.error_log_size()
        stderr_size = nginx.stderr_size()
        text = nginx.read_error_log(self.error_offset) + \
            nginx.read_stderr(self.stderr_offset)
        self.error_offset = error_size
        self.stderr_offset = stderr_size
        return text


class Watch:
    """The instances that run, and what the stopped ones left unchecked."""

    def __init__(self):
        self.running = {}
        self.stopped_text = []

    def started(self, nginx):
        self.running[id(nginx)] = _Watched(nginx)

    def stopped(self, nginx, status):
        watched = self.running.pop(id(nginx), None)
        if watched is not None:
            self.stopped_text.append(
                (str(nginx.prefix), status, watched.read_new()))

    def collect(self, kills_workers=False):
        """[(prefix, bad lines)] of every instance, running or stopped
        since the last call; each part of a log is looked at once."""
        found = []
        for watched in list(self.running.values()):
            bad = fatal_lines(watched.read_new(), kills_workers)
            if bad:
                found.append((str(watched.nginx.prefix), bad))
        for prefix, _status, text in self.stopped_text:
            bad = fatal_lines(text, kills_workers)
            if bad:
                found.append((prefix + " (until it stopped)", bad))
        self.stopped_text = []
        return found


def report(found):
    return "\n".join("nginx %s:\n  %s" % (prefix, "\n  ".join(bad[:20]))
                     for prefix, bad in found)


WATCH = Watch()
if WATCH not in serving.OBSERVERS:
    serving.OBSERVERS.append(WATCH)
