"""Reading the module's metrics location: the Prometheus text format
(version 0.0.4) parsed strictly enough to catch a malformed exposition, and a
bounded poll for tests that wait for a state of the shared zone."""

import re
import time

from helpers import http_request

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? '
                    r'(-?[0-9]+(\.[0-9]+)?|\+Inf)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"\\]*)"')
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


class Metrics:
    """samples: {(name, frozenset of (label, value))}: float; types and
    helps by metric family."""

    def __init__(self, text):
        self.text = text
        self.samples = {}
        self.types = {}
        self.helps = {}
        for line in text.splitlines():
            self._line(line)

    def _family(self, name):
        for suffix in ("_bucket", "_sum", "_count"):
            base = name[:-len(suffix)]
            if name.endswith(suffix) and self.types.get(base) == "histogram":
                return base
        return name

    def _line(self, line):
        assert line, "empty line in the exposition"
        if line.startswith("# HELP "):
            name, _, text = line[7:].partition(" ")
            assert text, "HELP without text: %r" % line
            assert name not in self.helps, "second HELP for %s" % name
            self.helps[name] = text
            return
        if line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            assert kind in TYPES, line
            assert name not in self.types, "second TYPE for %s" % name
            assert name in self.helps, "TYPE before HELP for %s" % name
            self.types[name] = kind
            return
        assert not line.startswith("#"), line
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        name, labels = m.group(1), m.group(3) or ""
        family = self._family(name)
        assert family in self.types, "sample before its TYPE: %r" % line
        pairs = LABEL.findall(labels)
        assert ",".join('%s="%s"' % p for p in pairs) == labels, line
        key = (name, frozenset(pairs))
        assert key not in self.samples, "duplicate sample %r" % line
        value = m.group(4)
        self.samples[key] = float("inf") if value == "+Inf" else float(value)

    def get(self, name, **labels):
        """The sample's value, 0 when absent (series appear when non-zero)."""
        return self.samples.get((name, frozenset(labels.items())), 0)

    def sum(self, name, **labels):
        """The sum over every series of name whose labels include labels."""
        want = set(labels.items())
        return sum(v for (n, ls), v in self.samples.items()
                   if n == name and want <= ls)

    def histogram(self, name):
        """[(le, cumulative count)] in order, sum, count."""
        buckets = []
        for (n, ls), v in self.samples.items():
            if n == name + "_bucket":
                le = dict(ls)["le"]
                buckets.append((float("inf") if le == "+Inf" else float(le),
                                v))
        buckets.sort()
        return (buckets, self.samples[(name + "_sum", frozenset())],
                self.samples[(name + "_count", frozenset())])


def fetch_metrics(port, path="/metrics"):
    res = http_request(port, "GET", path, timeout=30)
    assert res.status == 200, res
    assert res.header("Content-Type").startswith("text/plain; version=0.0.4")
    return Metrics(res.body.decode("utf-8"))


def wait_for(port, predicate, what, tries=1200, path="/metrics"):
    """Polls the metrics until predicate(metrics) holds (at most about a
    minute); returns them. The state of other workers can be seen no other
    way than by asking again."""
    m = None
    for _ in range(tries):
        m = fetch_metrics(port, path)
        if predicate(m):
            return m
        time.sleep(0.05)
    raise AssertionError("metrics never showed %s; last:\n%s"
                         % (what, m.text if m else ""))
