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
#include "util/sha1.h"
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

// A temporary file in dir, read-only as git leaves objects (they are never
// written in place).
void create_temp(const std::string &dir, TempObjectFile &out) {
    std::string tmpl = dir + "/tmp_obj_XXXXXX";
    const int fd = mkostemp(tmpl.data(), O_CLOEXEC);
    if (fd < 0)
        fail("mkstemp", dir, errno);
    out.fd = fd;
    out.path = tmpl;
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

std::string hex(const git_oid &id) {
    char buf[GIT_OID_HEXSZ + 1];
    git_oid_tostr(buf, sizeof buf, &id);
    return buf;
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

struct LooseObjectStream::State {
    State(int level) : zs(level) {}
    zlib::Deflater zs;
    pack::Sha1 sha;
    TempObjectFile file;
    std::string objects_dir;
    LooseWriteOptions options;
    size_t size = 0, written = 0;
    unsigned char out[16384];

    // Deflates len bytes at in into the file; flush as deflate()'s.
    void pump(const void *in, size_t len, int flush) {
        zs->next_in = static_cast<Bytef *>(const_cast<void *>(in));
        size_t left = len;
        for (;;) {
            const uInt take = zlib::chunk(left);
            zs->avail_in = take;
            const int last = take == left ? flush : Z_NO_FLUSH;
            int ret;
            do {
                zs->next_out = out;
                zs->avail_out = sizeof(out);
                ret = deflate(&zs.z(), last);
                if (ret == Z_STREAM_ERROR)
                    throw Error("zlib: deflate failed on " + file.path);
                write_all(file, out, sizeof(out) - zs->avail_out);
            } while (zs->avail_out == 0 || (last == Z_FINISH && ret != Z_STREAM_END));
            left -= take;
            if (left == 0)
                return;
        }
    }
};

LooseObjectStream::LooseObjectStream(const std::string &objects_dir, git_object_t type, size_t size,
                                     const LooseWriteOptions &options)
    : s_(std::make_unique<State>(options.level)) {
    s_->objects_dir = objects_dir;
    s_->options = options;
    s_->size = size;
    // In objects_dir itself, as git's stream_loose_object(): the object's
    // xx/ is known only once the data is hashed.
    create_temp(objects_dir, s_->file);
    const std::string header = std::string(git_object_type2string(type)) + " " +
                               std::to_string(size) + std::string(1, '\0');
    s_->sha.update(header.data(), header.size());
    s_->pump(header.data(), header.size(), Z_NO_FLUSH);
}

LooseObjectStream::~LooseObjectStream() = default;

void LooseObjectStream::write(const void *data, size_t len) {
    if (len > s_->size - s_->written)
        throw Error("loose object " + s_->file.path + ": more data than its size");
    s_->written += len;
    s_->sha.update(data, len);
    s_->pump(data, len, Z_NO_FLUSH);
}

git_oid LooseObjectStream::finish(const git_oid *expected) {
    if (s_->written != s_->size)
        throw Error("loose object " + s_->file.path + ": less data than its size");
    s_->pump(nullptr, 0, Z_FINISH);
    const pack::Sha1::Digest digest = s_->sha.final();
    git_oid id;
    git_oid_fromraw(&id, digest.data());
    if (expected && !git_oid_equal(expected, &id))
        throw Error("object " + hex(*expected) + " resolves to " + hex(id));
    TempObjectFile &f = s_->file;
    if (s_->options.fsync && fsync(f.fd) != 0)
        fail("fsync", f.path, errno);
    const int fd = f.fd;
    f.fd = -1;
    if (close(fd) != 0)
        fail("close", f.path, errno);
    const std::string path = loose_path(s_->objects_dir, id);
    const std::string dir = path.substr(0, path.rfind('/'));
    if (mkdir(dir.c_str(), 0777) != 0 && errno != EEXIST)
        fail("mkdir", dir, errno);
    if (const int err = place_object_file(f.path, path))
        fail("link", path, err);
    f.path.clear();
    return id;
}

git_oid write_loose_object(const std::string &objects_dir, git_object_t type, const void *data,
                           size_t size, const LooseWriteOptions &options, const git_oid *expected) {
    LooseObjectStream stream(objects_dir, type, size, options);
    stream.write(data, size);
    return stream.finish(expected);
}

} // namespace gsh
