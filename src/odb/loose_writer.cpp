#include "odb/loose_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "odb/loose_object.h"
#include "util/error.h"
#include "util/zlib.h"

namespace gsh {

namespace {

// Closes the descriptor and removes the temporary file unless released.
class TempObjectFile {
  public:
    ~TempObjectFile() {
        if (fd >= 0)
            close(fd);
        if (!path.empty())
            unlink(path.c_str());
    }
    std::string path;
    int fd = -1;
};

[[noreturn]] void fail(const std::string &what, const std::string &path, int err) {
    throw Error("unable to write loose object " + path + ": " + what + ": " + strerror(err));
}

// A temporary file in dir (made when missing, as git's create_tmpfile).
void create_temp(const std::string &dir, TempObjectFile &out) {
    std::string tmpl = dir + "/tmp_obj_XXXXXX";
    int fd = mkostemp(tmpl.data(), O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        if (mkdir(dir.c_str(), 0777) != 0 && errno != EEXIST)
            fail("mkdir", dir, errno);
        tmpl = dir + "/tmp_obj_XXXXXX";
        fd = mkostemp(tmpl.data(), O_CLOEXEC);
    }
    if (fd < 0)
        fail("mkstemp", dir, errno);
    out.fd = fd;
    out.path = tmpl;
    // Objects are never written in place: read-only, as git leaves them.
    if (fchmod(fd, 0444) != 0)
        fail("chmod", tmpl, errno);
}

void write_all(const TempObjectFile &f, const unsigned char *p, size_t n) {
    while (n > 0) {
        const ssize_t w = write(f.fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            fail("write", f.path, w < 0 ? errno : ENOSPC);
        p += w;
        n -= size_t(w);
    }
}

// Deflates header then data into f, a buffer at a time.
void deflate_into(const TempObjectFile &f, int level, const std::string &header, const void *data,
                  size_t size) {
    zlib::Deflater zs(level);
    unsigned char out[16384];
    auto pump = [&](const void *in, size_t len, int flush) {
        zs->next_in = static_cast<Bytef *>(const_cast<void *>(in));
        size_t left = len;
        while (true) {
            const uInt take = zlib::chunk(left);
            zs->avail_in = take;
            const int last = take == left ? flush : Z_NO_FLUSH;
            int ret;
            do {
                zs->next_out = out;
                zs->avail_out = sizeof(out);
                ret = deflate(&zs.z(), last);
                if (ret == Z_STREAM_ERROR)
                    throw Error("zlib: deflate failed on " + f.path);
                write_all(f, out, sizeof(out) - zs->avail_out);
            } while (zs->avail_out == 0 || (last == Z_FINISH && ret != Z_STREAM_END));
            left -= take;
            if (left == 0)
                return;
        }
    };
    pump(header.data(), header.size(), Z_NO_FLUSH);
    pump(data, size, Z_FINISH);
}

} // namespace

int place_object_file(const std::string &tmp, const std::string &path) {
    int err = link(tmp.c_str(), path.c_str()) == 0 ? 0 : errno;
    // No hard links (some file systems): a rename, which cannot tell an
    // existing object from none, as git's fallback cannot either.
    if (err != 0 && err != EEXIST)
        err = rename(tmp.c_str(), path.c_str()) == 0 ? -1 : errno;
    if (err != -1)
        unlink(tmp.c_str());
    return err == EEXIST || err == -1 ? 0 : err;
}

git_oid write_loose_object(const std::string &objects_dir, git_object_t type, const void *data,
                           size_t size, const LooseWriteOptions &options, const git_oid *expected) {
    git_oid id;
    if (git_odb_hash(&id, data, size, type) < 0)
        throw Error(std::string("hashing a loose object: ") + git_object_type2string(type));
    if (expected && !git_oid_equal(expected, &id)) {
        char want[GIT_OID_HEXSZ + 1], got[GIT_OID_HEXSZ + 1];
        git_oid_tostr(want, sizeof want, expected);
        git_oid_tostr(got, sizeof got, &id);
        throw Error(std::string("object ") + want + " resolves to " + got);
    }
    const std::string path = loose_path(objects_dir, id);
    const std::string header = std::string(git_object_type2string(type)) + " " +
                               std::to_string(size) + std::string(1, '\0');
    TempObjectFile f;
    create_temp(path.substr(0, path.rfind('/')), f);
    deflate_into(f, options.level, header, data, size);
    if (options.fsync && fsync(f.fd) != 0)
        fail("fsync", f.path, errno);
    const int fd = f.fd;
    f.fd = -1;
    if (close(fd) != 0)
        fail("close", f.path, errno);
    if (const int err = place_object_file(f.path, path))
        fail("link", path, err);
    f.path.clear();
    return id;
}

} // namespace gsh
