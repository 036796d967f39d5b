#include "odb/object_reader.h"
#include "util/oid_hex.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "odb/loose_object.h"
#include "util/error.h"

namespace gsh::pack {

namespace {

constexpr size_t kWindowSize = 8 * 1024;
constexpr size_t kWindows = 16;
constexpr size_t kMaxChain = 10000;
constexpr size_t kMaxChunkSize = 1u << 20;
constexpr size_t kMinChunkSize = 4096;
constexpr size_t kMaxLarge = 256u << 20;

inline size_t mix(uint64_t key) {
    return size_t((key * 0x9e3779b97f4a7c15ull) >> 20);
}

// Objects below the requested one are delta bases; trees are likely to be
// the bases of the next trees read. Those are cached.
bool worth_caching(bool final, int type) {
    return !final || type == kTree;
}

} // namespace

void ObjectReader::Buffer::resize(size_t n) {
    if (n > cap) {
        size_t c = cap ? cap : 1024;
        while (c < n)
            c *= 2;
        data.reset(new uint8_t[c]);
        cap = c;
    }
    size = n;
}

ObjectReader::ObjectReader(git_repository *repo, const PackSet &packs, size_t cache_bytes)
    : repo_(repo), packs_(packs), windows_(kWindows),
      chunk_size_(std::clamp(cache_bytes / 4, kMinChunkSize, kMaxChunkSize)),
      max_chunks_(std::max<size_t>(2, cache_bytes / chunk_size_)) {
    git_odb *odb = nullptr;
    git_check(git_repository_odb(&odb, repo_), "opening the object database");
    odb_.reset(odb);
    map_rebuild(1024);
}

const uint8_t *ObjectReader::bytes(size_t pack, uint64_t offset, size_t len) {
    Window *lru = &windows_[0];
    for (Window &w : windows_) {
        if (w.pack == int(pack) && offset >= w.start && offset + len <= w.start + w.len) {
            w.used = ++clock_;
            return w.buf.data.get() + (offset - w.start);
        }
        if (w.used < lru->used)
            lru = &w;
    }
    const PackIndex &p = packs_[pack];
    if (offset > p.pack_size() || len > p.pack_size() - offset)
        throw Error("pack entry out of range in " + p.pack_path());
    if (len > kWindowSize) {
        big_.resize(len);
        pread_exact(p.pack_fd(), big_.data.get(), len, offset, p.pack_path());
        return big_.data.get();
    }
    size_t n = size_t(std::min<uint64_t>(kWindowSize, p.pack_size() - offset));
    lru->pack = -1;
    lru->buf.resize(kWindowSize);
    pread_exact(p.pack_fd(), lru->buf.data.get(), n, offset, p.pack_path());
    lru->pack = int(pack);
    lru->start = offset;
    lru->len = n;
    lru->used = ++clock_;
    return lru->buf.data.get();
}

const uint8_t *ObjectReader::window_at(size_t pack, uint64_t offset, size_t *avail) {
    for (Window &w : windows_)
        if (w.pack == int(pack) && offset >= w.start && offset < w.start + w.len) {
            w.used = ++clock_;
            *avail = size_t(w.start + w.len - offset);
            return w.buf.data.get() + (offset - w.start);
        }
    const PackIndex &p = packs_[pack];
    const size_t n = size_t(std::min<uint64_t>(kWindowSize, p.pack_size() - offset));
    *avail = n;
    return bytes(pack, offset, n);
}

// Inflates the compressed data of the entry at offset (header h) into out:
// all of it, or only the first limit bytes when that is less. The data is
// read through the windows until the zlib stream ends, so the entry's end
// need not be known.
void ObjectReader::inflate_entry(size_t pack, uint64_t offset, const EntryHeader &h, Buffer &out,
                                 size_t limit) {
    const PackIndex &p = packs_[pack];
    const uint64_t data_end = p.pack_size() - GIT_OID_RAWSZ; // the trailer follows the entries
    if (h.size > SIZE_MAX / 2)
        throw Error("object too large in " + p.pack_path());
    const bool partial = limit < h.size;
    const size_t want = partial ? limit : size_t(h.size);
    // One spare byte so that data longer than announced is noticed.
    out.resize(want + 1);
    zs_.reset();
    z_stream &zs = zs_.z();
    zs.next_in = nullptr;
    zs.avail_in = 0;
    zs.next_out = out.data.get();
    size_t out_left = partial ? want : want + 1;
    uint64_t in_pos = offset + h.length;
    int rc = Z_OK;
    bool ok = false;
    for (;;) {
        if (zs.avail_in == 0) {
            if (in_pos >= data_end)
                break; // truncated
            size_t avail;
            zs.next_in = const_cast<Bytef *>(window_at(pack, in_pos, &avail));
            zs.avail_in = zlib::chunk(size_t(std::min<uint64_t>(avail, data_end - in_pos)));
            in_pos += zs.avail_in;
        }
        const uInt ao = zlib::chunk(out_left);
        zs.avail_out = ao;
        rc = inflate(&zs, partial ? Z_SYNC_FLUSH : Z_NO_FLUSH);
        out_left -= ao - zs.avail_out;
        if (rc == Z_STREAM_END) {
            ok = out_left == (partial ? 0 : 1);
            break;
        }
        if (partial && out_left == 0) {
            ok = true;
            break;
        }
        if (out_left == 0 || (rc != Z_OK && rc != Z_BUF_ERROR))
            break; // longer than announced, or not zlib data
    }
    out.size = want;
    if (!ok)
        throw Error("corrupt pack entry at offset " + std::to_string(offset) + " of " +
                    p.pack_path());
}

// A loose object of the folders the packs were read from, read here rather
// than through libgit2, whose check of every object read hashes it with
// SHA-1DC, about three times the cost of libcrypto's SHA-1: a fetch of
// commits pushed since the last repack spent a fifth of its CPU there. The
// check is kept: a file whose content is another object is refused.
bool ObjectReader::read_loose_file(const git_oid &oid, Buffer &out, git_object_t *type,
                                   size_t max_read, size_t *size_only) {
    for (const std::string &folder : packs_.object_folders()) {
        LooseObject file;
        const int rc = file.open(folder, oid);
        if (rc == GIT_ENOTFOUND)
            continue;
        if (rc == 0 && file.size() > max_read) {
            *type = file.type();
            *size_only = file.size();
            return true;
        }
        if (rc < 0 || (out.resize(file.size()),
                       file.read_all(reinterpret_cast<char *>(out.data.get()))) < 0) {
            const git_error *e = git_error_last();
            throw Error(e && e->message ? e->message
                                        : "loose object " + oid_hex(oid) + " is corrupt");
        }
        const git_oid content = object_hash(sha_, file.type(), out.data.get(), out.size);
        if (git_oid_cmp(&content, &oid) != 0)
            throw Error("loose object " + oid_hex(oid) + " is corrupt: its content is " +
                        oid_hex(content));
        *type = file.type();
        return true;
    }
    return false;
}

ObjectReader::Object ObjectReader::read_loose(const git_oid &oid, Buffer &out) {
    git_object_t type;
    if (read_loose_file(oid, out, &type))
        return {type, out.data.get(), out.size};
    // Not in those folders (written since they were listed): libgit2 finds it.
    git_odb_object *obj = nullptr;
    int rc = git_odb_read(&obj, odb_.get(), &oid);
    if (rc < 0) {
        const git_error *e = git_error_last();
        throw Error("reading object " + oid_hex(oid) + ": " +
                    (e && e->message ? e->message : "libgit2 error"));
    }
    OdbObjectPtr p(obj);
    out.resize(git_odb_object_size(obj));
    if (out.size)
        std::memcpy(out.data.get(), git_odb_object_data(obj), out.size);
    return {git_odb_object_type(obj), out.data.get(), out.size};
}

bool ObjectReader::loose_header(const git_oid &oid, git_object_t *type, size_t *size) {
    ObjectCache &cache = packs_.object_cache();
    if (auto hit = cache.find(oid)) {
        *type = hit->type;
        *size = hit->data.size();
        return true;
    }
    uint64_t offset;
    if (packs_.find(oid, &offset) >= 0)
        return false;
    // What the cache takes is read whole and kept: the caller reads it next.
    size_t large = SIZE_MAX;
    if (!read_loose_file(oid, work_[0], type, cache.max_object(), &large))
        return false;
    if (large != SIZE_MAX) {
        *size = large;
        return true;
    }
    *size = work_[0].size;
    cache.insert(oid, *type, work_[0].data.get(), work_[0].size);
    return true;
}

bool ObjectReader::cache_get(uint64_t key, Object *out) const {
    for (const Large &l : large_)
        if (l.key == key) {
            *out = {l.type, l.buf.data.get(), l.buf.size};
            return true;
        }
    const size_t mask = map_.size() - 1;
    for (size_t i = mix(key) & mask;; i = (i + 1) & mask) {
        const auto &e = map_[i];
        if (e.first == 0)
            return false;
        if (e.first == key) {
            if (e.second < first_seq_)
                return false; // evicted
            const Slot &s = slots_[size_t(e.second - first_seq_)];
            if (s.key != key)
                return false;
            *out = {git_object_t(s.type), chunks_[s.chunk].get() + s.pos, s.size};
            return true;
        }
    }
}

void ObjectReader::map_insert(uint64_t key, uint64_t seq) {
    if ((map_used_ + 1) * 2 > map_.size()) {
        // Drop stale keys; grow only when the live ones need it.
        size_t cap = map_.size();
        while (slots_.size() * 4 > cap)
            cap *= 2;
        map_rebuild(cap);
    }
    const size_t mask = map_.size() - 1;
    for (size_t i = mix(key) & mask;; i = (i + 1) & mask) {
        auto &e = map_[i];
        if (e.first == key) {
            e.second = seq;
            return;
        }
        if (e.first == 0) {
            e = {key, seq};
            map_used_++;
            return;
        }
    }
}

void ObjectReader::map_rebuild(size_t capacity) {
    map_.assign(capacity, {0, 0});
    map_used_ = 0;
    const size_t mask = capacity - 1;
    for (size_t k = 0; k < slots_.size(); k++) {
        size_t i = mix(slots_[k].key) & mask;
        while (map_[i].first != 0 && map_[i].first != slots_[k].key)
            i = (i + 1) & mask;
        if (map_[i].first == 0)
            map_used_++;
        map_[i] = {slots_[k].key, first_seq_ + k};
    }
}

void ObjectReader::cache_put(uint64_t key, git_object_t type, const uint8_t *data, size_t size) {
    if (size > chunk_size_ / 2) {
        // Too large for the ring: one of a few slots of their own, so that
        // a long delta chain through a large tree is not resolved again for
        // each of its versions.
        if (size > kMaxLarge)
            return;
        Large &l = large_[large_next_];
        large_next_ = (large_next_ + 1) % kLargeSlots;
        l.key = 0;
        l.buf.resize(size);
        std::memcpy(l.buf.data.get(), data, size);
        l.key = key;
        l.type = type;
        return;
    }
    if (chunks_.empty() || chunk_pos_ + size > chunk_size_) {
        if (chunks_.empty())
            chunk_ = 0;
        else
            chunk_ = (chunk_ + 1) % max_chunks_;
        if (chunk_ == chunks_.size())
            chunks_.emplace_back(new uint8_t[chunk_size_]);
        chunk_pos_ = 0;
        while (!slots_.empty() && slots_.front().chunk == chunk_) {
            slots_.pop_front();
            first_seq_++;
        }
    }
    if (size)
        std::memcpy(chunks_[chunk_].get() + chunk_pos_, data, size);
    slots_.push_back(Slot{key, uint32_t(chunk_), uint32_t(type), chunk_pos_, size});
    chunk_pos_ += size;
    map_insert(key, first_seq_ + slots_.size() - 1);
}

template <typename ReadFn>
ObjectReader::Object ObjectReader::through_cache(const git_oid &oid, ReadFn &&read_fn) {
    ObjectCache &cache = packs_.object_cache();
    if ((held_ = cache.find(oid)))
        return {held_->type, held_->data.data(), held_->data.size()};
    const Object o = read_fn();
    cache.insert(oid, o.type, o.data, o.size);
    return o;
}

ObjectReader::Object ObjectReader::read_shared(const git_oid &oid) {
    return through_cache(oid, [&] {
        uint64_t offset;
        const int pack = packs_.find(oid, &offset);
        return pack < 0 ? read_loose(oid, work_[0]) : read_packed(size_t(pack), offset);
    });
}

ObjectReader::Object ObjectReader::read(const git_oid &oid, size_t limit) {
    uint64_t offset;
    int pack = packs_.find(oid, &offset);
    if (pack < 0) {
        Object o = through_cache(oid, [&] { return read_loose(oid, work_[0]); });
        o.size = std::min(o.size, limit);
        return o;
    }
    return read_packed(size_t(pack), offset, limit);
}

ObjectReader::Object ObjectReader::read_packed(size_t pack, uint64_t offset, size_t limit) {
    chain_.clear();
    Object cur;
    int w = 0;
    if (find_base(pack, offset, limit, w, &cur))
        return cur;
    cur = apply_chain(cur, w);
    cur.size = std::min(cur.size, limit);
    return cur;
}

bool ObjectReader::find_base(size_t p, uint64_t off, size_t limit, int &w, Object *cur) {
    for (;;) {
        const uint64_t key = key_of(p, off);
        if (cache_get(key, cur))
            return false;
        const PackIndex &pi = packs_[p];
        const uint64_t data_end = pi.pack_size() - GIT_OID_RAWSZ;
        if (off < 12 || off >= data_end)
            throw Error("pack entry out of range in " + pi.pack_path());
        const size_t hlen = size_t(std::min<uint64_t>(data_end - off, kMaxEntryHeader));
        EntryHeader h;
        if (!parse_entry_header(bytes(p, off, hlen), hlen, off, &h))
            throw Error("corrupt pack entry at offset " + std::to_string(off) + " of " +
                        pi.pack_path());
        if (!is_delta(h.type)) {
            const bool final = chain_.empty();
            Buffer &b = work_[w];
            w ^= 1;
            if (final && limit < h.size) {
                // Only the beginning is wanted (a commit's header lines).
                inflate_entry(p, off, h, b, limit);
                *cur = {git_object_t(h.type), b.data.get(), b.size};
                return true;
            }
            inflate_entry(p, off, h, b, SIZE_MAX);
            *cur = {git_object_t(h.type), b.data.get(), b.size};
            if (worth_caching(final, h.type))
                cache_put(key, cur->type, cur->data, cur->size);
            return false;
        }
        if (chain_.size() >= kMaxChain)
            throw Error("delta chain too long in " + pi.pack_path());
        chain_.push_back({p, off, h});
        if (h.type == kOfsDelta) {
            off = h.base_offset;
            continue;
        }
        // REF_DELTA: the base is anywhere, preferably in the same pack.
        uint64_t base_off;
        if (pi.lookup(h.base_oid, &base_off)) {
            off = base_off;
            continue;
        }
        int bp = packs_.find(h.base_oid, &base_off);
        if (bp >= 0) {
            p = size_t(bp);
            off = base_off;
            continue;
        }
        *cur = read_loose(h.base_oid, work_[w]);
        w ^= 1;
        return false;
    }
}

ObjectReader::Object ObjectReader::apply_chain(Object cur, int w) {
    for (size_t i = chain_.size(); i-- > 0;) {
        const Link &link = chain_[i];
        inflate_entry(link.pack, link.offset, link.header, delta_, SIZE_MAX);
        uint64_t base_size, result_size;
        if (!delta_sizes(delta_.data.get(), delta_.size, &base_size, &result_size) ||
            result_size > SIZE_MAX / 2)
            throw Error("corrupt delta at offset " + std::to_string(link.offset) + " of " +
                        packs_[link.pack].pack_path());
        Buffer &out = work_[w];
        w ^= 1;
        out.resize(size_t(result_size));
        if (!apply_delta(cur.data, cur.size, delta_.data.get(), delta_.size, out.data.get(),
                         out.size))
            throw Error("corrupt delta at offset " + std::to_string(link.offset) + " of " +
                        packs_[link.pack].pack_path());
        cur = {cur.type, out.data.get(), out.size};
        if (worth_caching(i == 0, cur.type))
            cache_put(key_of(link.pack, link.offset), cur.type, cur.data, cur.size);
    }
    return cur;
}

} // namespace gsh::pack
