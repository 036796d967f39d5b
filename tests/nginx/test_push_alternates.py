"""A fork borrowing objects from a pool (objects/info/alternates), as with
`git clone --shared`: receive-pack's advertisement carries the pool's ref
tips as ".have" lines (issue 17), so the client leaves out of its pack what
the pool has. Compared with git http-backend on test_push's nginx.

git 2.39 reads the refs of every alternate it links, nested ones too, in
the order it links them; tips only (no peeled tags); a tip already shown
as one of the fork's refs, or as an earlier ".have", is not repeated."""

import re

import helpers
from test_push import (SIDES, advert_both, assert_clean,  # noqa: F401
                       client_of, commit_file, fsck, push_env, rev, seed,
                       stray_files)


def make_pools(push_env, seed, name):
    """pool (seed's refs and an extra branch and annotated tag of its
    own) borrowing from deep (one more branch), and the text of a fork's
    alternates file naming pool: a comment, a missing folder, then pool
    by a path relative to the fork's objects folder."""
    git = push_env.git
    work = client_of(push_env, seed, name + "-work")
    commit_file(git, work, "pool.txt", "pool\n", "pool only")
    git("tag", "-a", "-m", "pool tag", "pooltag", cwd=work)
    commit_file(git, work, "pool.txt", "pool 2\n", "pool tip")
    deep = push_env.new_repo(name + "-deep", seed)
    commit_file(git, work, "deep.txt", "deep\n", "deep only")
    git("push", "-q", deep, "HEAD:refs/heads/deep", cwd=work)
    pool = push_env.new_repo(name + "-pool", seed)
    git("push", "-q", pool, "HEAD~1:refs/heads/pool", "pooltag", cwd=work)
    (pool / "objects/info/alternates").write_text(
        "%s/objects\n" % deep)
    return pool, deep, ("# the pool\n../../missing.git/objects\n"
                        "../../%s/objects/\n" % pool.name)


def have_lines(body):
    return [i.split(b" ")[0] for i in body
            if isinstance(i, bytes) and b" .have" in i]


def test_advertisement_has_lines_as_http_backend(push_env, seed):
    """Fork with refs of its own (seed's) and an empty one: the same lines
    in the same order as git http-backend, one ".have" per tip of pool and
    deep that the fork does not show, the capabilities on the first line."""
    git = push_env.git
    pool, deep, alternates = make_pools(push_env, seed, "altadv")
    for kind, fork_seed in (("seeded", seed), ("empty", None)):
        def setup(repo):
            (repo / "objects/info/alternates").write_text(alternates)
        out = advert_both(push_env, "altadv-%s" % kind, fork_seed,
                          setup=setup)
        m, r = out["module"], out["reference"]
        helpers.assert_same(m, r, "receive-pack advertisement (%s)" % kind)
        haves = have_lines(m["body"])
        tips = {rev(git, pool, "pool"), rev(git, pool, "pooltag"),
                rev(git, deep, "deep")}
        if kind == "empty":
            tips.add(rev(git, pool, "main"))
            tips.add(rev(git, pool, "feature"))
            tips.add(rev(git, pool, "lt"))
            tips.add(rev(git, pool, "ann"))
            assert b".have\0" in m["body"][2], m["body"][2]
        assert sorted(h.decode() for h in haves) == sorted(tips), m["body"]
        assert rev(git, pool, "pooltag^{}").encode() not in haves


def pushed_objects(stderr):
    m = re.search(r"Total (\d+) ", stderr)
    assert m, stderr
    return int(m.group(1))


def test_push_to_fork_sends_only_what_the_pool_lacks(push_env, seed):
    """An empty fork of pool: a push of main one commit past the pool's
    sends that commit, its tree and its blob, and nothing of the pool's
    history; as many objects as to git http-backend."""
    git = push_env.git
    pool, _, alternates = make_pools(push_env, seed, "altpush")
    client = client_of(push_env, seed, "altpush")
    commit_file(git, client, "fork.txt", "fork\n", "fork only")
    sent = {}
    for side, location in SIDES:
        fork = push_env.new_repo("altpush-%s" % side)
        (fork / "objects/info/alternates").write_text(alternates)
        res = git.run("push", "--progress", push_env.url(location, fork),
                      "main", cwd=client)
        assert res.code == 0, res.err
        assert rev(git, fork, "main") == rev(git, client, "main")
        assert_clean({"fsck": fsck(git, fork), "stray": stray_files(fork)})
        sent[side] = pushed_objects(res.err)
    assert sent["module"] == sent["reference"], sent
    assert sent["module"] == 3, sent

