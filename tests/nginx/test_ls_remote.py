"""git ls-remote (protocol v2) against the module and the reference: the
exit code and stdout must be identical."""

import pytest

from helpers import on_both

CASES = [
    # (repository path, options, patterns)
    ("small.git", [], []),
    ("small.git", ["--symref"], []),
    ("small.git", ["--heads"], []),
    ("small.git", ["--tags"], []),
    ("small.git", ["--refs"], []),
    ("small.git", ["--symref", "--heads", "--tags"], []),
    ("small.git", [], ["refs/heads/*"]),
    ("small.git", [], ["refs/tags/v1*"]),
    ("small.git", [], ["main"]),
    ("small.git", [], ["HEAD"]),
    ("small.git", ["--symref"], ["HEAD"]),
    ("small.git", [], ["refs/heads/release/1.0", "v2.0"]),
    ("small.git", [], ["no-such-ref"]),
    ("small", [], []),
    ("multipack.git", ["--symref"], []),
    ("hidden.git", [], []),
    ("hidden.git", ["--symref"], []),
    ("hidden.git", [], ["refs/hidden/*"]),
    ("hidden.git", [], ["refs/private/*"]),
    ("empty.git", [], []),
    ("empty.git", ["--symref"], []),
    ("group/sub/project.git", ["--symref"], []),
    ("group/sub/project", [], []),
    ("plain", ["--symref"], []),
    ("plain/.git", [], []),
]


def ls_remote(git, server, path, opts, patterns):
    return on_both(server, lambda url, _: git.run(
        "ls-remote", *opts, "%s/%s" % (url, path), *patterns)[:2])


@pytest.mark.parametrize("path,opts,patterns", CASES,
                         ids=["%s %s %s" % (p, " ".join(o), " ".join(pat))
                              for p, o, pat in CASES])
def test_ls_remote_same_as_reference(git, server, path, opts, patterns):
    res = ls_remote(git, server, path, opts, patterns)
    assert res["reference"][0] == 0, res["reference"]
    assert res["module"] == res["reference"]


def test_ls_remote_small_lists_everything(git, server):
    """Sanity of the fixture and of the comparison above: the reference
    really lists branches, tags and peeled tags (also a tag of a tag)."""
    res = ls_remote(git, server, "small.git", ["--symref"], [])
    out = res["reference"][1]
    for needle in ("ref: refs/heads/main\tHEAD", "\trefs/heads/feature",
                   "\trefs/heads/release/1.0", "\trefs/heads/topic",
                   "\trefs/tags/v0.1\n", "\trefs/tags/v1.0^{}",
                   "\trefs/tags/v1.0-meta^{}", "\trefs/tags/blob-tag^{}"):
        assert needle in out
    assert res["module"] == res["reference"]


def test_ls_remote_hidden_refs_absent(git, server):
    res = ls_remote(git, server, "hidden.git", [], [])
    for name, (code, out) in res.items():
        assert code == 0, name
        assert "refs/heads/main" in out, name
        assert "refs/hidden" not in out, name
        assert "refs/private" not in out, name


def test_ls_remote_empty_repository(git, server):
    res = ls_remote(git, server, "empty.git", ["--symref"], [])
    assert res["reference"] == (0, "")
    assert res["module"] == res["reference"]


@pytest.mark.parametrize("path", ["missing.git", "noexport.git", "notarepo",
                                  "group", "small.git/objects"])
def test_ls_remote_not_found(git, server, path):
    """A repository that is not served: same exit code and the same message
    (with the URL made neutral) as the reference."""
    def run(url, _):
        r = git.run("ls-remote", "%s/%s" % (url, path))
        return r.code, r.err.replace(url, "URL")
    res = on_both(server, run)
    assert res["reference"][0] == 128
    assert "not found" in res["reference"][1]
    assert res["module"] == res["reference"]


def test_ls_remote_server_options(git, server):
    """The module advertises server-option: a client may send some; they
    change nothing here, as with the reference."""
    res = on_both(server, lambda url, _: git.run(
        "ls-remote", "-o", "first", "--server-option=second=2",
        "%s/small.git" % url)[:2])
    assert res["reference"][0] == 0
    assert res["module"] == res["reference"]


@pytest.mark.parametrize("version", [0, 1])
def test_ls_remote_older_protocols(git, server, version):
    """Protocol v0/v1: the output is the reference's."""
    res = on_both(server, lambda url, _: git.run(
        "ls-remote", "%s/small.git" % url, protocol=version))
    ref, mod = res["reference"], res["module"]
    assert ref.code == 0 and "refs/heads/main" in ref.out
    assert (mod.code, mod.out) == (ref.code, ref.out), mod
