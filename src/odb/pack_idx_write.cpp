#include "odb/pack_idx_write.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "util/error.h"
#include "util/sha1.h"

namespace gsh::pack {

namespace {

// A file written through a buffer and hashed as it goes; the hash is
// appended by finish().
class HashedFile {
  public:
    explicit HashedFile(const std::string &path) : path_(path) {
        fd_ = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0444);
        if (fd_ < 0)
            throw Error("writing " + path + ": " + strerror(errno));
    }
    ~HashedFile() {
        if (fd_ >= 0)
            close(fd_);
    }
    HashedFile(const HashedFile &) = delete;
    HashedFile &operator=(const HashedFile &) = delete;

    void put(const void *data, size_t len) {
        sha_.update(data, len);
        raw(data, len);
    }
    void be32(uint32_t v) {
        const uint8_t b[4] = {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)};
        put(b, 4);
    }
    void finish() {
        const Sha1::Digest d = sha_.final();
        raw(d.data(), d.size());
        flush();
        if (close(fd_) != 0) {
            fd_ = -1;
            throw Error("writing " + path_ + ": " + strerror(errno));
        }
        fd_ = -1;
    }

  private:
    void raw(const void *data, size_t len) {
        const auto *p = static_cast<const uint8_t *>(data);
        buf_.insert(buf_.end(), p, p + len);
        if (buf_.size() >= 64 * 1024)
            flush();
    }
    void flush() {
        size_t done = 0;
        while (done < buf_.size()) {
            const ssize_t n = write(fd_, buf_.data() + done, buf_.size() - done);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                throw Error("writing " + path_ + ": " + strerror(errno));
            done += size_t(n);
        }
        buf_.clear();
    }

    std::string path_;
    int fd_ = -1;
    Sha1 sha_;
    std::vector<uint8_t> buf_;
};

} // namespace

void write_pack_idx(const std::string &path, const std::vector<IdxEntry> &entries,
                    const uint8_t pack_checksum[20]) {
    HashedFile f(path);
    static const uint8_t kHead[8] = {0xff, 't', 'O', 'c', 0, 0, 0, 2};
    f.put(kHead, sizeof kHead);
    uint32_t fanout[256] = {};
    for (const IdxEntry &e : entries)
        fanout[e.oid.id[0]]++;
    uint32_t sum = 0;
    for (uint32_t &n : fanout) {
        sum += n;
        f.be32(sum);
    }
    for (const IdxEntry &e : entries)
        f.put(e.oid.id, GIT_OID_RAWSZ);
    for (const IdxEntry &e : entries)
        f.be32(e.crc);
    uint32_t large = 0;
    for (const IdxEntry &e : entries)
        f.be32(e.offset < (uint64_t(1) << 31) ? uint32_t(e.offset) : 0x80000000u | large++);
    for (const IdxEntry &e : entries)
        if (e.offset >= (uint64_t(1) << 31)) {
            f.be32(uint32_t(e.offset >> 32));
            f.be32(uint32_t(e.offset));
        }
    f.put(pack_checksum, 20);
    f.finish();
}

void write_pack_rev(const std::string &path, const std::vector<IdxEntry> &entries,
                    const uint8_t pack_checksum[20]) {
    std::vector<uint32_t> order(entries.size());
    for (uint32_t i = 0; i < order.size(); i++)
        order[i] = i;
    std::sort(order.begin(), order.end(),
              [&](uint32_t a, uint32_t b) { return entries[a].offset < entries[b].offset; });
    HashedFile f(path);
    f.put("RIDX", 4);
    f.be32(1);
    f.be32(1);
    for (uint32_t pos : order)
        f.be32(pos);
    f.put(pack_checksum, 20);
    f.finish();
}

} // namespace gsh::pack
