"""Zero-copy packs: pack bytes that are a pack file's bytes on disk leave as
nginx file buffers (sendfile where it is on; where it is off, or under TLS,
nginx's own output buffers read the file), between the side-band headers.

Every way nginx may send those buffers gives the same pack and progress as
the path that copies everything (`aio threads`, where the module keeps to
memory buffers), and $git_pack_file_bytes shows which way the bytes went.
(The side-band framing may differ: pkt-lines end where buffers do.)

Module-specific: git http-backend has no such path to compare with.
"""

import gzip
import os
import random

import pytest

import helpers
from helpers import Nginx

pytestmark = pytest.mark.skipif(
    os.environ.get("GSH_SELF_CHECK") == "1",
    reason="file buffers are the module's own")

LOCATIONS = {
    # name: what the location adds to git_smart_http
    "on": "sendfile on;",
    "off": "sendfile off;",
    # nginx's output chain reads the files in small pieces
    "tinybufs": "sendfile off; output_buffers 1 4k;",
    # sendfile in small pieces, and the chunked filter between them
    "chunks": "sendfile on; sendfile_max_chunk 8k;",
    # the gzip filter needs the bytes in memory: nginx reads the files
    "gzip": "sendfile on; gzip on; gzip_min_length 0; "
            "gzip_types application/x-git-upload-pack-result;",
    # no file buffers: the copy filter's reads would be thread tasks too
    "aio": "sendfile on; aio threads;",
}

LOG_FORMAT = "$request_uri|$status|$git_pack_bytes|$git_pack_file_bytes"


def http_body(root, listen="127.0.0.1:{port}", extra=""):
    locations = "".join("""
        location /%s/ {
            git_smart_http on;
            git_smart_http_root %s;
            %s
        }""" % (name, root, conf) for name, conf in LOCATIONS.items())
    return """
    log_format files '%s';
    server {
        listen %s;
        %s
        access_log {log} files;
        location / { return 404; }
%s
    }
""" % (LOG_FORMAT, listen, extra, locations)


def random_tree(work, rnd, files, size):
    for i in range(files):
        (work / ("f%03d.bin" % i)).write_bytes(rnd.randbytes(size))


@pytest.fixture(scope="module")
def root(git, tmp_path_factory):
    """whole.git: one pack, which a clone sends as it is; split.git: the same
    history in two packs plus loose objects, whose runs are hashed."""
    top = tmp_path_factory.mktemp("zero-copy")
    work = top / "work"
    work.mkdir()
    git("init", "-q", "-b", "main", cwd=work)
    rnd = random.Random(7)
    # incompressible blobs: long runs of pack bytes, copied as they are
    for n in range(3):
        random_tree(work, rnd, 12, 48 * 1024)
        git("add", "-A", cwd=work)
        git.tick()
        git("commit", "-q", "-m", "c%d" % n, cwd=work)
    root = top / "root"
    root.mkdir()
    whole = root / "whole.git"
    git("clone", "-q", "--bare", work, whole)
    git("repack", "-adq", cwd=whole)
    split = root / "split.git"
    git("clone", "-q", "--bare", "--no-local", work, split)
    # a second pack of newer history, then loose objects
    random_tree(work, rnd, 4, 40 * 1024)
    git("add", "-A", cwd=work)
    git.tick()
    git("commit", "-q", "-m", "packed", cwd=work)
    git("push", "-q", split, "main", cwd=work)
    git("repack", "-dq", cwd=split)
    (work / "small.txt").write_text("loose\n")
    git("add", "-A", cwd=work)
    git.tick()
    git("commit", "-q", "-m", "loose", cwd=work)
    git("-c", "transfer.unpackLimit=100000", "push", "-q", split, "main",
        cwd=work)
    for repo in (whole, split):
        (repo / "git-daemon-export-ok").touch()
    assert len(list((whole / "objects" / "pack").glob("*.pack"))) == 1
    assert len(list((split / "objects" / "pack").glob("*.pack"))) == 2
    return root


@pytest.fixture(scope="module")
def plain(root, tmp_path_factory):
    prefix = tmp_path_factory.mktemp("zero-copy-nginx")
    body = http_body(root).replace("{log}", str(prefix / "logs" / "files.log"))
    ngx = Nginx(prefix, body, module=helpers.module_path())
    ngx.start()
    yield ngx
    assert ngx.stop() == 0, ngx.read_error_log()[-3000:]


@pytest.fixture(scope="module")
def tls(root, tmp_path_factory):
    prefix = tmp_path_factory.mktemp("zero-copy-tls")
    conf = prefix / "tls"
    conf.mkdir()
    helpers.self_signed_cert(conf / "key.pem", conf / "crt.pem")
    body = http_body(root, "127.0.0.1:{port} ssl http2", """
        ssl_certificate %s;
        ssl_certificate_key %s;""" % (conf / "crt.pem", conf / "key.pem")) \
        .replace("{log}", str(prefix / "logs" / "files.log"))
    ngx = Nginx(prefix, body, module=helpers.module_path())
    ngx.start()
    ngx.ca = conf / "crt.pem"
    yield ngx
    assert ngx.stop() == 0, ngx.read_error_log()[-3000:]


def log_entries(ngx, count):
    """The last count lines of the files log, once nginx has written them,
    as (uri, status, pack bytes, file bytes)."""
    path = ngx.prefix / "logs" / "files.log"

    def lines():
        return path.read_text().splitlines() if path.exists() else []
    helpers.wait_until(lambda: len(lines()) >= count, 30, "the access log")
    return [tuple(l.split("|")) for l in lines()[-count:]]


def ref_wants(git, repo):
    return ["want " + l.split()[0] for l in
            git("for-each-ref", "--format=%(objectname) %(refname)",
                cwd=repo).splitlines()]


def fetch_all(ngx, location, repo, wants, protocol=2, caps=None):
    """A clone's upload-pack POST, raw; the response body."""
    if protocol == 2:
        body = helpers.v2_request("fetch", wants + ["ofs-delta", "done"])
        headers = dict(helpers.RPC_V2)
    else:
        first = wants[0] + " " + " ".join(caps) + "\n"
        body = (helpers.pkt(first) +
                b"".join(helpers.pkt(w + "\n") for w in wants[1:]) +
                helpers.pkt_flush() + helpers.pkt("done\n"))
        headers = {"Content-Type": "application/x-git-upload-pack-request"}
    if location == "gzip":
        headers["Accept-Encoding"] = "gzip"
    r = ngx.http("POST", "/%s/%s/git-upload-pack" % (location, repo),
                 headers, body)
    assert r.status == 200 and r.complete, (r.status, r.body[-300:])
    data = r.body
    if dict((k.lower(), v) for k, v in r.headers).get(
            "content-encoding") == "gzip":
        data = gzip.decompress(data)
    return data


def demux_v2(data):
    """(pack, progress) of a v2 fetch response."""
    items = helpers.parse_pkt_lines(data)
    at = items.index(b"packfile\n")
    pack, progress, error = helpers.demux_sideband(items[at + 1:])
    assert error == b""
    assert items[:at + 1] == [b"packfile\n"]
    return pack, progress


@pytest.mark.parametrize("repo", ["whole.git", "split.git"])
def test_every_way_of_sending_files_gives_the_same_bytes(git, root, plain,
                                                         repo):
    wants = ref_wants(git, root / repo)
    bodies = {name: fetch_all(plain, name, repo, wants) for name in LOCATIONS}
    entries = dict((uri.split("/")[1], (pack, files)) for uri, _, pack, files
                   in log_entries(plain, len(LOCATIONS)))
    pack, progress = demux_v2(bodies["aio"])
    for name, body in bodies.items():
        assert demux_v2(body) == (pack, progress), name
    helpers.check_pack(pack)
    disk = list((root / repo / "objects" / "pack").glob("*.pack"))
    if repo == "whole.git":
        # the pack file itself, all of it from the file but its header and
        # trailer
        assert pack == disk[0].read_bytes()
        expect_files = len(pack) - 32
    else:
        # most of it: the two packs' entries, hashed on the way
        expect_files = None
        assert int(entries["on"][1]) > len(pack) // 2, entries
    for name in LOCATIONS:
        pack_bytes, files = entries[name]
        assert int(pack_bytes) == len(pack), (name, entries)
        if name == "aio":
            assert files == "0", entries
        elif expect_files is not None:
            assert int(files) == expect_files, (name, entries)
        else:
            assert files == entries["on"][1], (name, entries)


def test_bare_v0_pack_from_files(git, root, plain):
    """A v0 client that asked for no side-band: the pack alone, with the
    files' bytes between nothing at all."""
    wants = ref_wants(git, root / "split.git")
    caps = ["ofs-delta", "agent=git/2.39.5"]
    bodies = {name: fetch_all(plain, name, "split.git", wants, 0, caps)
              for name in ("on", "off", "aio")}
    entries = log_entries(plain, 3)
    assert bodies["on"] == bodies["aio"] == bodies["off"]
    nak = helpers.pkt("NAK\n")
    assert bodies["on"].startswith(nak)
    helpers.check_pack(bodies["on"][len(nak):])
    assert [int(files) > 0 for _, _, _, files in entries] == \
        [True, True, False], entries


@pytest.mark.parametrize("location", ["on", "off"])
def test_clone_from_files(git, root, plain, tmp_path, location):
    url = "http://127.0.0.1:%d/%s/split.git" % (plain.port, location)
    dest = tmp_path / "c"
    r = git.run("clone", "-q", "--bare", url, dest)
    assert r.code == 0, r.err
    assert helpers.repo_state(git, dest) == helpers.repo_state(
        git, root / "split.git")
    (_, _, _, files), = log_entries(plain, 1)
    assert int(files) > 0


def test_tls_and_http2_read_the_files(git, root, tls, tmp_path):
    """TLS without kTLS has no sendfile: nginx reads the file buffers into
    its output buffers and encrypts them; git's curl speaks HTTP/2."""
    url = "https://127.0.0.1:%d/on/whole.git" % tls.port
    dest = tmp_path / "c"
    r = git.run("-c", "http.sslCAInfo=%s" % tls.ca, "clone", "-q", "--bare",
                url, dest)
    assert r.code == 0, r.err
    assert helpers.repo_state(git, dest) == helpers.repo_state(
        git, root / "whole.git")
    (_, _, pack_bytes, files), = log_entries(tls, 1)
    disk, = (root / "whole.git" / "objects" / "pack").glob("*.pack")
    assert int(pack_bytes) == disk.stat().st_size
    assert int(files) == disk.stat().st_size - 32
