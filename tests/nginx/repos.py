"""Fixture repositories, made with real git from deterministic scripts
(fixed authors and dates: the same object ids on every run).

Layout of the repositories root (ROOT); every repository carries
git-daemon-export-ok except noexport.git:

  small.git               branches main (HEAD), feature (merged), topic,
                          release/1.0; tags v0.1 (lightweight), v1.0
                          (annotated), v1.0-meta (annotated tag of v1.0),
                          v2.0 (annotated, main), blob-tag (annotated, a blob);
                          merges; one file edited in every commit (deltas)
  multipack.git           three packs plus loose objects
  empty.git               git init --bare, HEAD -> refs/heads/main (unborn)
  group/sub/project.git   nested repository; group/ and group/sub/ are plain
                          directories
  hidden.git              small.git plus refs/hidden/secret (hidden by
                          uploadpack.hideRefs) and refs/private/stuff (hidden
                          by transfer.hideRefs), each on its own commit
  reachable.git           hidden.git + uploadpack.allowReachableSHA1InWant
  anysha.git              hidden.git + uploadpack.allowAnySHA1InWant
  wantref.git             hidden.git + uploadpack.allowRefInWant (want-ref)
  v2extras.git            hidden.git + uploadpack.allowRefInWant,
                          uploadpack.allowSidebandAll, transfer.advertiseSID
  noexport.git            like group/sub/project.git, without
                          git-daemon-export-ok
  plain/                  non-bare repository (work tree, plain/.git)
  notarepo/               a directory with a file, not a repository
  escape.git              symlink to ../outside.git (outside ROOT)
  updir                   symlink to .. (so updir/outside.git leaves ROOT)
  nginx.git               the corpus (separate, lazy fixture), repack -adb
  filter.git              small.git plus a submodule (gitlink) entry, small
                          and large blobs, nested folders, tags of a tree
                          and of a blob (annotated and lightweight), a
                          sparse-checkout spec (main:sparse-spec);
                          uploadpack.allowFilter true; repack -adb
  filter-nobitmap.git     the same without a bitmap
  filter-reachable.git    filter.git with uploadpack.allowReachableSHA1InWant
                          (what a partial clone needs over protocol v0)
  filter-policy.git       the same with uploadpackfilter.allow false,
                          uploadpackfilter.blob:none.allow true,
                          uploadpackfilter.tree.maxDepth 1

Next to ROOT: outside.git, an exported repository that must never be
reachable through the root.
"""

from pathlib import Path

BIG_LINES = 400


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _big_file(version):
    # A few hundred lines of which a few change per version: the packs of
    # this history hold deltas.
    lines = ["line %04d of a file that changes a little in every commit"
             % i for i in range(BIG_LINES)]
    for k in range(version + 1):
        idx = (k * 37) % BIG_LINES
        lines[idx] = "line %04d edited in version %d" % (idx, k)
    return "\n".join(lines) + "\n"


def commit(git, work, message, files):
    for name, text in files.items():
        _write(work / name, text)
    git("add", "-A", cwd=work)
    git.tick()
    git("commit", "-q", "-m", message, cwd=work)
    return git("rev-parse", "HEAD", cwd=work)


def export(repo_git_dir):
    (Path(repo_git_dir) / "git-daemon-export-ok").write_text("")


def to_bare(git, work, dest, export_ok=True):
    """Pushes every branch and tag of a work repo into a new bare repo
    (HEAD -> main) and packs it fully (deltas)."""
    git("init", "-q", "--bare", "-b", "main", dest)
    git("push", "-q", dest, "refs/heads/*:refs/heads/*",
        "refs/tags/*:refs/tags/*", cwd=work)
    git("repack", "-q", "-a", "-d", "-f", cwd=dest)
    if export_ok:
        export(dest)
    return Path(dest)


def build_small_work(git, work):
    git("init", "-q", "-b", "main", work)
    c = {}
    c[1] = commit(git, work, "initial", {
        "README": "small fixture repository\n",
        "big.txt": _big_file(1),
        "src/a.c": "int a(void) { return 1; }\n"})
    c[2] = commit(git, work, "second", {"big.txt": _big_file(2)})
    git("tag", "v0.1", cwd=work)                          # lightweight
    for i in range(3, 7):
        c[i] = commit(git, work, "commit %d" % i, {
            "big.txt": _big_file(i), "notes/n%d.txt" % i: "note %d\n" % i})
    git.tick()
    git("tag", "-a", "v1.0", "-m", "release 1.0", cwd=work)  # annotated
    git.tick()
    git("tag", "-a", "v1.0-meta", "-m", "tag of a tag", "v1.0", cwd=work)
    git("branch", "release/1.0", cwd=work)
    # feature branch from commit 5, merged later
    git("checkout", "-q", "-b", "feature", c[5], cwd=work)
    for i in range(3):
        commit(git, work, "feature %d" % i, {
            "src/feature.c": "int feature(void) { return %d; }\n" % i,
            "src/a.c": "int a(void) { return %d; }\n" % (10 + i)})
    git("checkout", "-q", "main", cwd=work)
    for i in range(7, 10):
        c[i] = commit(git, work, "commit %d" % i, {"big.txt": _big_file(i)})
    git.tick()
    git("merge", "-q", "--no-ff", "-m", "Merge branch 'feature'", "feature",
        cwd=work)
    # topic: not merged
    git("checkout", "-q", "-b", "topic", c[8], cwd=work)
    for i in range(2):
        commit(git, work, "topic %d" % i, {"topic.txt": "topic %d\n" % i})
    git("checkout", "-q", "main", cwd=work)
    for i in range(10, 13):
        c[i] = commit(git, work, "commit %d" % i, {"big.txt": _big_file(i)})
    git.tick()
    git("merge", "-q", "--no-ff", "-m", "Merge branch 'topic'", "topic",
        cwd=work)
    c[13] = commit(git, work, "after merges", {"big.txt": _big_file(13)})
    git.tick()
    git("tag", "-a", "v2.0", "-m", "release 2.0", cwd=work)
    blob = git("rev-parse", "HEAD:README", cwd=work)
    git.tick()
    git("tag", "-a", "blob-tag", "-m", "a tag of a blob", blob, cwd=work)
    return c


def build_multipack(git, tmp, dest):
    work = tmp / "multipack-work"
    git("init", "-q", "-b", "main", work)
    git("init", "-q", "--bare", "-b", "main", dest)
    # stop receive-pack from exploding the small pushes into loose objects
    # before our own repack: every stage becomes its own pack.
    for stage in range(4):
        for i in range(4):
            commit(git, work, "stage %d commit %d" % (stage, i), {
                "big.txt": _big_file(stage * 4 + i),
                "stage%d/f%d.txt" % (stage, i): "s%d f%d\n" % (stage, i)})
        git("push", "-q", dest, "main", cwd=work)
        if stage < 3:
            # packs only the loose objects: one new pack per stage
            git("repack", "-q", "-d", cwd=dest)
    git("branch", "side", "HEAD~6", cwd=work)
    git("push", "-q", dest, "side", cwd=work)
    export(dest)
    return Path(dest)


def build_hidden(git, small_work, tmp, dest, extra_config=()):
    to_bare(git, small_work, dest)
    work = tmp / ("hidden-work-" + Path(dest).name)
    git("clone", "-q", dest, work)
    # commits only reachable from the hidden refs
    git("checkout", "-q", "--orphan", "secret", cwd=work)
    secret = commit(git, work, "secret", {"secret.txt": "secret\n"})
    git("checkout", "-q", "--orphan", "private", cwd=work)
    private = commit(git, work, "private", {"private.txt": "private\n"})
    git("push", "-q", "origin", "%s:refs/hidden/secret" % secret,
        "%s:refs/private/stuff" % private, cwd=work)
    git("config", "uploadpack.hideRefs", "refs/hidden", cwd=dest)
    git("config", "transfer.hideRefs", "refs/private", cwd=dest)
    for key, value in extra_config:
        git("config", key, value, cwd=dest)
    git("repack", "-q", "-a", "-d", cwd=dest)
    return Path(dest)


SPARSE_SPEC = "/src/\n*.txt\n!big.txt\ndeep/a/\n"


def build_filter(git, small_work, nested, tmp, root):
    """filter.git, filter-nobitmap.git and filter-policy.git (see above)."""
    work = tmp / "filter-work"
    git("clone", "-q", "--no-local", small_work, work)
    git("checkout", "-q", "-B", "main", "origin/main", cwd=work)
    for branch in ("feature", "topic", "release/1.0"):
        git("branch", "-q", branch, "origin/" + branch, cwd=work)
    commit(git, work, "files of many sizes", {
        "large.bin": "".join("%06d large\n" % i for i in range(2000)),
        "medium.txt": "m" * 3000 + "\n",
        "tiny.txt": "t\n",
        "deep/a/b/c/leaf.txt": "leaf\n",
        "deep/a/b/other.txt": "other\n",
        "deep/x.txt": "x\n",
        "sparse-spec": SPARSE_SPEC})
    # the same folder under two names (one tree reached at two depths)
    commit(git, work, "copy of a folder", {
        "copy/b/c/leaf.txt": "leaf\n", "copy/b/other.txt": "other\n"})
    sub = git("rev-parse", "HEAD", cwd=nested)
    git("update-index", "--add", "--cacheinfo", "160000,%s,modules/sub" % sub,
        cwd=work)
    git.tick()
    git("commit", "-q", "-m", "a submodule entry", cwd=work)
    # not commit(): its add -A would drop the gitlink (no folder for it)
    _write(work / "large.bin", "".join("%06d large, edited\n" % i
                                       for i in range(2000)))
    git("add", "large.bin", cwd=work)
    git.tick()
    git("commit", "-q", "-m", "large file changes", cwd=work)
    git.tick()
    git("tag", "-a", "tree-tag", "-m", "a tag of a tree", "HEAD^{tree}",
        cwd=work)
    git("tag", "tree-light", "HEAD~1:deep", cwd=work)
    git("tag", "blob-light", "HEAD~2:tiny.txt", cwd=work)
    for name, bitmap, config in (
            ("filter.git", True, []),
            ("filter-nobitmap.git", False, []),
            ("filter-reachable.git", True, [
                ("uploadpack.allowReachableSHA1InWant", "true")]),
            ("filter-policy.git", True, [
                ("uploadpackfilter.allow", "false"),
                ("uploadpackfilter.blob:none.allow", "true"),
                ("uploadpackfilter.tree.maxDepth", "1")])):
        dest = to_bare(git, work, root / name)
        git("config", "uploadpack.allowFilter", "true", cwd=dest)
        for key, value in config:
            git("config", key, value, cwd=dest)
        if bitmap:
            git("repack", "-q", "-a", "-d", "-b", cwd=dest)


def build_all(git, tmp):
    """Creates ROOT and its repositories under tmp; returns ROOT."""
    tmp = Path(tmp)
    root = tmp / "root"
    root.mkdir(parents=True)

    small_work = tmp / "small-work"
    build_small_work(git, small_work)
    to_bare(git, small_work, root / "small.git")

    build_multipack(git, tmp, root / "multipack.git")

    git("init", "-q", "--bare", "-b", "main", root / "empty.git")
    export(root / "empty.git")

    nested_work = tmp / "nested-work"
    git("init", "-q", "-b", "main", nested_work)
    for i in range(3):
        commit(git, nested_work, "nested %d" % i, {"n.txt": "%d\n" % i})
    git.tick()
    git("tag", "-a", "n1", "-m", "nested tag", cwd=nested_work)
    (root / "group" / "sub").mkdir(parents=True)
    to_bare(git, nested_work, root / "group" / "sub" / "project.git")
    to_bare(git, nested_work, root / "noexport.git", export_ok=False)

    build_hidden(git, small_work, tmp, root / "hidden.git")
    build_hidden(git, small_work, tmp, root / "reachable.git",
                 [("uploadpack.allowReachableSHA1InWant", "true")])
    build_hidden(git, small_work, tmp, root / "anysha.git",
                 [("uploadpack.allowAnySHA1InWant", "true")])
    build_hidden(git, small_work, tmp, root / "wantref.git",
                 [("uploadpack.allowRefInWant", "true")])
    build_hidden(git, small_work, tmp, root / "v2extras.git",
                 [("uploadpack.allowRefInWant", "true"),
                  ("uploadpack.allowSidebandAll", "true"),
                  ("transfer.advertiseSID", "true")])

    build_filter(git, small_work, nested_work, tmp, root)

    # a non-bare repository: work tree with .git
    plain = root / "plain"
    git("init", "-q", "-b", "main", plain)
    for i in range(2):
        commit(git, plain, "plain %d" % i, {"p.txt": "%d\n" % i})
    export(plain / ".git")

    (root / "notarepo").mkdir()
    (root / "notarepo" / "file.txt").write_text("not a repository\n")

    # outside the root, exported; reachable only through a symlink
    to_bare(git, nested_work, tmp / "outside.git")
    (root / "escape.git").symlink_to("../outside.git")
    (root / "updir").symlink_to("..")
    return root


def build_corpus(git, bundle, dest):
    """git clone --mirror <bundle>; git repack -adb: a server-like
    repository with a reachability bitmap."""
    git("clone", "-q", "--mirror", bundle, dest)
    git("repack", "-q", "-a", "-d", "-b", cwd=dest)
    export(dest)
    return Path(dest)
