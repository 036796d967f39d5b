// Reads whole objects (commits, trees, tags) for the object walk straight
// from the pack files: bounded preads through a few small windows, inflate,
// delta resolution with a bounded cache of resolved objects. Objects in no
// pack are read from their loose files (or libgit2 when written since), and
// kept in the PackSet's ObjectCache.
//
// After warm-up nothing is allocated per object: results are built in two
// reusable buffers, and the cache is a ring of fixed chunks that is filled in
// order and evicted a chunk at a time (oldest first).
#pragma once

#include <git2.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <memory>
#include <vector>

#include "odb/object_cache.h"
#include "odb/pack_format.h"
#include "odb/pack_index.h"
#include "util/git_ptr.h"
#include "util/sha1.h"
#include "util/zlib.h"

namespace gsh::pack {

class ObjectReader {
  public:
    // packs must outlive the reader. cache_bytes bounds the cache of
    // resolved objects (delta bases).
    ObjectReader(git_repository *repo, const PackSet &packs, size_t cache_bytes = 2u << 20);
    ObjectReader(const ObjectReader &) = delete;
    ObjectReader &operator=(const ObjectReader &) = delete;

    struct Object {
        git_object_t type = GIT_OBJECT_INVALID;
        const uint8_t *data = nullptr; // valid until the next call on the reader
        size_t size = 0;
    };
    // Reads oid, or only its first limit bytes (then size == limit when the
    // object is at least that long). Throws gsh::Error when it is missing or
    // corrupt.
    Object read(const git_oid &oid, size_t limit = SIZE_MAX);
    // Reads the object stored at offset in packs[pack].
    Object read_packed(size_t pack, uint64_t offset, size_t limit = SIZE_MAX);
    // The same through the PackSet's ObjectCache (for what is read again
    // by the requests after this one).
    Object read_shared(const git_oid &oid);
    // The type and size of oid when it is in no pack: from the cache, else
    // from its loose file, read whole and cached when it fits the cache.
    // False when it is packed or missing (libgit2's git_odb_read_header
    // answers for those). Throws gsh::Error when the file is corrupt.
    bool loose_header(const git_oid &oid, git_object_t *type, size_t *size);

  private:
    // A growable byte buffer that does not zero what it adds.
    struct Buffer {
        std::unique_ptr<uint8_t[]> data;
        size_t size = 0;
        size_t cap = 0;
        void resize(size_t n);
    };
    struct Window {
        int pack = -1;
        uint64_t start = 0;
        size_t len = 0;
        uint64_t used = 0;
        Buffer buf;
    };
    // A cached object: where it lives in the ring.
    struct Slot {
        uint64_t key;
        uint32_t chunk;
        uint32_t type;
        size_t pos;
        size_t size;
    };

    static uint64_t key_of(size_t pack, uint64_t offset) { return (uint64_t(pack) << 44) ^ offset; }
    // Pointer to [offset, offset + len) of a pack, valid until the next call.
    const uint8_t *bytes(size_t pack, uint64_t offset, size_t len);
    // Pointer to what a window holds from offset on (at least a byte).
    const uint8_t *window_at(size_t pack, uint64_t offset, size_t *avail);
    void inflate_entry(size_t pack, uint64_t offset, const EntryHeader &h, Buffer &out,
                       size_t limit);
    Object read_loose(const git_oid &oid, Buffer &out);
    // Reads oid from a loose file of the packs' object folders into out;
    // false when none has it. An object larger than max_read is not read:
    // its size goes to *size_only. Throws gsh::Error when the file is
    // corrupt.
    bool read_loose_file(const git_oid &oid, Buffer &out, git_object_t *type,
                         size_t max_read = SIZE_MAX, size_t *size_only = nullptr);
    // The two halves of read_packed (w: the work buffer to build the next
    // object in). find_base goes down the delta chain from offset to a
    // cached or whole object, into *cur, and keeps the deltas passed in
    // chain_; true when *cur is already the answer (the beginning of a
    // whole object). apply_chain goes back up, applying each delta in turn.
    bool find_base(size_t pack, uint64_t offset, size_t limit, int &w, Object *cur);
    Object apply_chain(Object cur, int w);

    // oid from the PackSet's ObjectCache, else read_fn()'s answer, kept there.
    template <typename ReadFn> Object through_cache(const git_oid &oid, ReadFn &&read_fn);
    bool cache_get(uint64_t key, Object *out) const;
    void cache_put(uint64_t key, git_object_t type, const uint8_t *data, size_t size);
    void map_insert(uint64_t key, uint64_t seq);
    void map_rebuild(size_t capacity);

    git_repository *repo_;
    OdbPtr odb_;
    const PackSet &packs_;
    zlib::Inflater zs_;

    std::vector<Window> windows_;
    uint64_t clock_ = 0;
    Buffer big_; // a range larger than a window
    Sha1 sha_;   // checks loose objects

    std::shared_ptr<const ObjectCache::Object> held_; // the last object read, when cached
    Buffer delta_;                                    // an inflated delta
    Buffer work_[2]; // objects being built; the result lives in one of them

    struct Link {
        size_t pack;
        uint64_t offset;
        EntryHeader header;
    };
    std::vector<Link> chain_;

    // The cache: chunks written in turn; slots_ in the order written, so the
    // oldest chunk's slots are at the front. map_ (open addressing, key ->
    // sequence number of the slot) may hold stale keys; lookups check.
    std::vector<std::unique_ptr<uint8_t[]>> chunks_;
    size_t chunk_size_;
    size_t max_chunks_;
    size_t chunk_ = 0;     // chunk being written
    size_t chunk_pos_ = 0; // next free byte in it
    std::deque<Slot> slots_;
    uint64_t first_seq_ = 0; // sequence number of slots_.front()
    std::vector<std::pair<uint64_t, uint64_t>> map_;
    size_t map_used_ = 0;
    // Objects too large for the ring.
    struct Large {
        uint64_t key = 0;
        git_object_t type = GIT_OBJECT_INVALID;
        Buffer buf;
    };
    static constexpr size_t kLargeSlots = 2;
    Large large_[kLargeSlots];
    size_t large_next_ = 0;
};

} // namespace gsh::pack
