// The repository's pack files as the pack writer sees them: each .idx
// (version 1 or 2) mapped in memory for oid -> offset lookups, the matching
// .pack opened for pread, and per pack the entries sorted by offset so that
// each entry's end (the next entry's start) is known.
#pragma once

#include <git2.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "odb/commit_graph.h"
#include "odb/object_cache.h"
#include "odb/pack_format.h"

namespace gsh::pack {

// An owned file descriptor.
class FileDescriptor {
  public:
    FileDescriptor() = default;
    explicit FileDescriptor(int fd) : fd_(fd) {}
    ~FileDescriptor();
    FileDescriptor(FileDescriptor &&o) noexcept : fd_(o.release()) {}
    FileDescriptor &operator=(FileDescriptor &&o) noexcept;
    FileDescriptor(const FileDescriptor &) = delete;
    FileDescriptor &operator=(const FileDescriptor &) = delete;

    int get() const { return fd_; }
    int release() {
        int fd = fd_;
        fd_ = -1;
        return fd;
    }
    explicit operator bool() const { return fd_ >= 0; }

  private:
    int fd_ = -1;
};

// A read-only memory mapping of a whole file, unmapped on destruction.
class MappedFile {
  public:
    MappedFile() = default;
    MappedFile(const uint8_t *data, size_t size) : data_(data), size_(size) {}
    ~MappedFile();
    MappedFile(MappedFile &&o) noexcept : data_(o.data_), size_(o.size_) {
        o.data_ = nullptr;
        o.size_ = 0;
    }
    MappedFile &operator=(MappedFile &&o) noexcept;
    MappedFile(const MappedFile &) = delete;
    MappedFile &operator=(const MappedFile &) = delete;

    const uint8_t *data() const { return data_; }
    size_t size() const { return size_; }

  private:
    const uint8_t *data_ = nullptr;
    size_t size_ = 0;
};

// Reads exactly len bytes at offset; throws gsh::Error (naming what) on an
// I/O error or a short file.
void pread_exact(int fd, void *buf, size_t len, uint64_t offset, const std::string &what);

// One pack: its index and its data file.
class PackIndex {
  public:
    // Maps idx_path and opens the .pack beside it. Throws gsh::Error when
    // either is unreadable or malformed, or when they do not belong together.
    explicit PackIndex(const std::string &idx_path);
    ~PackIndex();
    PackIndex(const PackIndex &) = delete;
    PackIndex &operator=(const PackIndex &) = delete;

    const std::string &pack_path() const { return pack_path_; }
    int pack_fd() const { return pack_fd_.get(); }
    // Size of the .pack file, trailer included.
    uint64_t pack_size() const { return pack_size_; }
    uint32_t count() const { return count_; }
    int version() const { return version_; }
    // Whether git's reverse index (.rev) gives the pack order.
    bool has_reverse_index() const { return rev_ != nullptr; }

    // Position of oid in the index (index order is oid order), or -1.
    int64_t find(const git_oid &oid) const;
    // Offset of oid in the pack; false when it is not in this pack.
    bool lookup(const git_oid &oid, uint64_t *offset) const {
        int64_t pos = find(oid);
        if (pos < 0)
            return false;
        *offset = offset_at(uint32_t(pos));
        return true;
    }
    // The oid and offset of the entry at an index position (< count()).
    const uint8_t *oid_at(uint32_t pos) const;
    uint64_t offset_at(uint32_t pos) const;

    // Where the entry starting at offset ends: the next entry's offset, or
    // the start of the trailer for the last entry. offset must be an entry's.
    uint64_t entry_end(uint64_t offset) const;
    // Index position of the entry that starts at offset, or -1 when none does.
    int64_t pos_at_offset(uint64_t offset) const;
    // Reads and parses the header of the entry at offset; false when offset
    // is outside the entries or the bytes there are no valid header.
    bool read_entry_header(uint64_t offset, EntryHeader *h) const;
    // The index position and the end of the entry that starts at offset;
    // false when none does.
    bool entry_at(uint64_t offset, uint32_t *pos, uint64_t *end) const;

    // Pack order (by offset), as reachability bitmaps number the objects:
    // the entry of rank r (< count()), where it starts and ends, and the
    // rank of an index position.
    uint32_t pos_at_rank(size_t r) const {
        ensure_sorted();
        return sorted_pos(r);
    }
    uint64_t offset_at_rank(size_t r) const {
        ensure_sorted();
        return sorted_offset(r);
    }
    uint64_t end_at_rank(size_t r) const;
    uint32_t rank_of_pos(uint32_t pos) const;
    // The pack's SHA-1 trailer, as its index records it (20 bytes).
    const uint8_t *pack_checksum() const { return map_ + map_size_ - 40; }

  private:
    void map_index(const std::string &idx_path);
    void open_pack();
    void map_reverse_index(const std::string &rev_path);
    // The order by offset and its inverse are built once, on first need,
    // by whichever thread needs them first.
    void ensure_sorted() const {
        if (!rev_)
            std::call_once(sorted_once_, [this] { build_sorted(); });
    }
    void build_sorted() const;
    void build_ranks() const;
    uint64_t sorted_offset(size_t r) const;    // offset of the r-th entry in pack order
    uint32_t sorted_pos(size_t r) const;       // its index position
    size_t sorted_rank(uint64_t offset) const; // first sorted entry >= offset

    std::string pack_path_;
    FileDescriptor pack_fd_;
    uint64_t pack_size_ = 0;
    MappedFile idx_map_;
    const uint8_t *map_ = nullptr; // idx_map_'s bytes
    size_t map_size_ = 0;
    int version_ = 0;
    uint32_t count_ = 0;
    const uint8_t *fanout_ = nullptr;  // 256 big-endian counts
    const uint8_t *oids_ = nullptr;    // v2: count * 20; v1: count * 24 (offset, oid)
    const uint8_t *offsets_ = nullptr; // v2: count * 4
    const uint8_t *large_ = nullptr;   // v2: 8-byte offsets
    size_t large_count_ = 0;

    // Entries by offset: from git's .rev file when there is one, else built
    // on first need.
    MappedFile rev_map_;
    const uint8_t *rev_ = nullptr; // count_ big-endian index positions
    mutable std::vector<uint64_t> sorted_offsets_;
    mutable std::vector<uint32_t> sorted_pos_;
    mutable std::vector<uint32_t> bucket_start_; // first sorted entry of each bucket
    mutable int bucket_shift_ = 0;
    mutable std::once_flag sorted_once_;
    mutable std::vector<uint32_t> rank_of_pos_;
    mutable std::once_flag ranks_once_;
};

class BitmapIndex;
class BitmapOrder;

// Every pack of a repository (objects/pack/pack-*.idx), and of the object
// folders it borrows from (objects/info/alternates). Once opened it does not
// change, and may be read by several threads at once.
class PackSet {
  public:
    // Opens the packs of repo's object folder. An .idx whose .pack is gone
    // (a concurrent repack) is skipped; a malformed one throws gsh::Error.
    explicit PackSet(git_repository *repo);
    explicit PackSet(const std::string &pack_dir);
    ~PackSet();
    PackSet(const PackSet &) = delete;
    PackSet &operator=(const PackSet &) = delete;

    size_t size() const { return packs_.size(); }
    PackIndex &operator[](size_t i) { return *packs_[i]; }
    const PackIndex &operator[](size_t i) const { return *packs_[i]; }

    // Index of a pack holding oid (and its offset there), or -1.
    int find(const git_oid &oid, uint64_t *offset) const {
        uint32_t pos;
        return find(oid, offset, &pos);
    }
    // The same, with the oid's position in that pack's index.
    int find(const git_oid &oid, uint64_t *offset, uint32_t *pos) const;

    // The object folders read (the repository's, then its alternates'):
    // their pack folders and info/alternates say when the set is stale.
    const std::vector<std::string> &object_folders() const { return folders_; }

    // The reachability bitmap counting uses, read on first use, as git
    // chooses it: the multi-pack-index's of the repository's own pack
    // folder, else that of the first pack that has one; nullptr when there
    // is none or it cannot be used. *order is set to the order its bits
    // number objects in (alive as long as the set).
    const BitmapIndex *bitmap(const BitmapOrder **order) const;
    // The commit-graph of the repository's own object folder, read on
    // first use; nullptr when there is none that can be read.
    const CommitGraph *commit_graph() const {
        return folders_.empty() ? nullptr : commit_graph_.get(folders_.front());
    }
    // Whole objects read from the set (see ObjectCache).
    ObjectCache &object_cache() const { return object_cache_; }

    // What users of the set derive from it alone and keep as long as it
    // lives (the plans of clones, pack/plan_memo.h; parsed commits,
    // walk/commit_memo.h; deltas made, pack/delta_memo.h), made on first use; their bytes count in
    // the set's memory. Each kind T names its own slot, T::kMemoSlot.
    struct Memo {
        virtual ~Memo() = default;
        virtual size_t bytes() const = 0;
    };
    enum MemoSlot : size_t { kPlanMemo, kCommitMemo, kDeltaMemo, kMemoSlots };
    template <typename T> T &memo() const {
        MemoHolder &h = memos_[T::kMemoSlot];
        std::call_once(h.once, [&h] {
            h.memo = std::make_unique<T>();
            h.made.store(h.memo.get(), std::memory_order_release);
        });
        return static_cast<T &>(*h.memo);
    }
    size_t memo_bytes() const {
        size_t n = 0;
        for (const MemoHolder &h : memos_)
            if (const Memo *m = h.made.load(std::memory_order_acquire))
                n += m->bytes();
        return n;
    }

  private:
    void open_dir(const std::string &pack_dir);
    void open_objects(const std::string &objects_dir);
    void load_bitmap() const;
    bool load_midx_bitmap() const;

    std::vector<std::unique_ptr<PackIndex>> packs_;
    std::vector<std::string> folders_;
    std::string first_pack_dir_; // where a multi-pack-index is looked for
    int bitmap_candidate_ = -1;  // first pack with a .bitmap file beside it
    mutable std::once_flag bitmap_once_;
    mutable std::unique_ptr<BitmapOrder> bitmap_order_;
    mutable std::unique_ptr<BitmapIndex> bitmap_;
    LazyCommitGraph commit_graph_;
    mutable ObjectCache object_cache_{kObjectCacheBytes, kObjectCacheObject};
    struct MemoHolder {
        std::once_flag once;
        std::unique_ptr<Memo> memo;
        std::atomic<const Memo *> made{nullptr};
    };
    mutable MemoHolder memos_[kMemoSlots];
    // Where the last lookup hit: consecutive lookups tend to hit the same
    // pack. A hint only, so relaxed.
    mutable std::atomic<size_t> last_hit_{0};
};

} // namespace gsh::pack
