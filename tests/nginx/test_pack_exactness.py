"""Object selection as exact as git's, over a matrix of want/have/shallow
shapes on the nginx corpus: the same protocol v2 fetch request goes to the
module and to git http-backend, and the module's pack must hold no object
git's does not, no more objects, no more than 1.05x its bytes, and pass the
strict one-pass checker (every delta's base before the delta; a base not in
the pack only in a thin pack). Every shape runs on the corpus as served
(with a reachability bitmap) and on a copy without one, where both sides
count by walking the history."""

import shutil

import pytest

import pack_check
from helpers import demux_sideband, parse_pkt_lines, rpc_both, v2_request

MAX_BYTES_RATIO = 1.05


@pytest.fixture(scope="module")
def filter_corpus(git, server, corpus):
    """A copy of the corpus that allows filters (the shared one does not)."""
    dest = server.root / "nginx-filter.git"
    if not dest.exists():
        shutil.copytree(corpus, dest, symlinks=True)
        git("config", "uploadpack.allowFilter", "true", cwd=dest)
    return dest.name


@pytest.fixture(scope="module")
def nobitmap_corpus(git, server, corpus):
    """A copy of the corpus without its bitmap, filters allowed."""
    dest = server.root / "nginx-nobitmap.git"
    if not dest.exists():
        shutil.copytree(corpus, dest, symlinks=True)
        for bitmap in (dest / "objects" / "pack").glob("*.bitmap"):
            bitmap.unlink()
        git("config", "uploadpack.allowFilter", "true", cwd=dest)
    return dest.name


@pytest.fixture(scope="module")
def shapes(git, corpus):
    """name -> (fetch arguments, thin, compare object sets)."""
    def rev(spec):
        return git("rev-parse", spec, cwd=corpus)

    refs = git("for-each-ref", "--format=%(objectname)", cwd=corpus).split()
    all_refs = ["want " + o for o in sorted(set(refs))]
    head = rev("HEAD")
    want_head = ["want " + head]
    deepened = ["shallow " + head, "have " + head] + want_head
    since = git("log", "-1", "--format=%ct", "HEAD~60", cwd=corpus)
    # A tag some way back on the default branch, for deepen-not.
    tag = git("describe", "--tags", "--abbrev=0", "HEAD~200", cwd=corpus)
    m100 = ["have " + rev("HEAD~100")]
    m1000 = ["have " + rev("HEAD~1000")]
    # Object sets are compared where the packs are small enough to resolve
    # in Python quickly; the clones compare counts and bytes.
    return {
        "full clone": (all_refs, False, False),
        "single branch": (want_head, False, False),
        "all refs, have ~100": (all_refs + m100, False, True),
        "all refs, have ~100, thin": (all_refs + m100, True, True),
        "all refs, have ~1000, thin": (all_refs + m1000, True, False),
        "branch, have ~100, thin": (want_head + m100, True, True),
        "depth 1": (want_head + ["deepen 1"], False, True),
        "deepen 1 to 10": (deepened + ["deepen 10"], False, True),
        "deepen 1 to 10, thin": (deepened + ["deepen 10"], True, True),
        "deepen-since from depth 1": (deepened + ["deepen-since " + since],
                                      True, True),
        "deepen-not": (want_head + ["deepen-not refs/tags/" + tag], False,
                       False),
        "filter blob:none, have ~100": (all_refs + m100 +
                                        ["filter blob:none"], True, True),
    }


SHAPES = ["full clone", "single branch", "all refs, have ~100",
          "all refs, have ~100, thin", "all refs, have ~1000, thin",
          "branch, have ~100, thin", "depth 1", "deepen 1 to 10",
          "deepen 1 to 10, thin", "deepen-since from depth 1", "deepen-not",
          "filter blob:none, have ~100"]


def pack_of(response):
    """(sections before the pack, pack bytes) of a v2 fetch response."""
    assert response.status == 200 and response.complete, response
    items, rest = parse_pkt_lines(response.body, stop_at_pack=True)
    assert items and items[-1] == b"packfile\n", items[-3:]
    pack, _, error = demux_sideband(parse_pkt_lines(rest))
    assert not error, error
    return items[:-1], pack


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("bitmap", [True, False], ids=["bitmap", "no bitmap"])
def test_pack_as_exact_as_git(git, server, corpus, filter_corpus,
                              nobitmap_corpus, shapes, bitmap, shape):
    args, thin, compare_sets = shapes[shape]
    caps = ["ofs-delta", "no-progress"] + (["thin-pack"] if thin else [])
    body = v2_request("fetch", caps + args + ["done"])
    if not bitmap:
        repo = nobitmap_corpus
    elif "filter" in shape:
        repo = filter_corpus
    else:
        repo = "nginx.git"
    res = rpc_both(server, repo, body)
    ref_sections, ref_pack = pack_of(res["reference"])
    mod_sections, mod_pack = pack_of(res["module"])
    # shallow-info and acknowledgments as git sends them
    assert mod_sections == ref_sections
    with pack_check.GitObjectSource(corpus, git.env) as source:
        ref_count = pack_check.check_pack(ref_pack, thin, source)
        mod_count = pack_check.check_pack(mod_pack, thin, source)
    figures = "module %d objects, %d bytes; git %d objects, %d bytes" % (
        mod_count, len(mod_pack), ref_count, len(ref_pack))
    print("%s, %s: %s" % (shape, "bitmap" if bitmap else "no bitmap",
                          figures))
    assert mod_count <= ref_count, figures
    assert len(mod_pack) <= MAX_BYTES_RATIO * len(ref_pack), figures
    if compare_sets:
        with pack_check.GitObjectSource(corpus, git.env) as source:
            mod_ids = pack_check.pack_ids(mod_pack, source)
            ref_ids = pack_check.pack_ids(ref_pack, source)
        assert len(mod_ids) == mod_count and len(ref_ids) == ref_count
        extra = mod_ids - ref_ids
        assert not extra, "%d objects git does not send, e.g. %s (%s)" % (
            len(extra), sorted(extra)[0], figures)
