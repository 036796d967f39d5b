#include "odb/pack_index.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <numeric>
#include <set>

#include "odb/alternates.h"
#include "odb/bitmap_index.h"
#include "odb/bitmap_order.h"
#include "odb/midx.h"
#include "util/big_endian.h"
#include "util/error.h"
#include "util/sorted_oids.h"

namespace gsh::pack {

namespace {

constexpr size_t kOidSize = 20;
constexpr size_t kFanoutSize = 256 * 4;

std::string errno_text() {
    return std::strerror(errno);
}

} // namespace

FileDescriptor::~FileDescriptor() {
    if (fd_ >= 0)
        ::close(fd_);
}

FileDescriptor &FileDescriptor::operator=(FileDescriptor &&o) noexcept {
    if (this != &o) {
        if (fd_ >= 0)
            ::close(fd_);
        fd_ = o.release();
    }
    return *this;
}

void pread_exact(int fd, void *buf, size_t len, uint64_t offset, const std::string &what) {
    uint8_t *p = static_cast<uint8_t *>(buf);
    while (len > 0) {
        ssize_t n = ::pread(fd, p, len, off_t(offset));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            throw Error("reading " + what + ": " + errno_text());
        }
        if (n == 0)
            throw Error("reading " + what + ": unexpected end of file");
        p += n;
        len -= size_t(n);
        offset += uint64_t(n);
    }
}

PackIndex::PackIndex(const std::string &idx_path) {
    if (idx_path.size() < 4 || idx_path.compare(idx_path.size() - 4, 4, ".idx") != 0)
        throw Error("not a pack index name: " + idx_path);
    pack_path_ = idx_path.substr(0, idx_path.size() - 4) + ".pack";
    map_index(idx_path);
    open_pack();
    map_reverse_index(idx_path.substr(0, idx_path.size() - 4) + ".rev");
}

PackIndex::~PackIndex() = default;

MappedFile::~MappedFile() {
    if (data_)
        ::munmap(const_cast<uint8_t *>(data_), size_);
}

MappedFile &MappedFile::operator=(MappedFile &&o) noexcept {
    if (this != &o) {
        if (data_)
            ::munmap(const_cast<uint8_t *>(data_), size_);
        data_ = o.data_;
        size_ = o.size_;
        o.data_ = nullptr;
        o.size_ = 0;
    }
    return *this;
}

// A pack-*.rev written by git (pack.writeReverseIndex) lists the index
// positions in pack order: then nothing needs to be sorted. It is used only
// when it is well formed and belongs to this pack.
void PackIndex::map_reverse_index(const std::string &rev_path) {
    FileDescriptor fd(::open(rev_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd)
        return;
    struct stat st;
    if (::fstat(fd.get(), &st) != 0 ||
        uint64_t(st.st_size) != 12 + uint64_t(count_) * 4 + 2 * kOidSize)
        return;
    void *m = ::mmap(nullptr, size_t(st.st_size), PROT_READ, MAP_PRIVATE, fd.get(), 0);
    if (m == MAP_FAILED)
        return;
    MappedFile map(static_cast<const uint8_t *>(m), size_t(st.st_size));
    const uint8_t *r = map.data();
    const size_t size = map.size();
    if (std::memcmp(r, "RIDX", 4) != 0 || be32(r + 4) != 1 || be32(r + 8) != 1 ||
        std::memcmp(r + size - 2 * kOidSize, map_ + map_size_ - 2 * kOidSize, kOidSize) != 0)
        return;
    rev_map_ = std::move(map);
    rev_ = rev_map_.data() + 12;
}

void PackIndex::map_index(const std::string &idx_path) {
    FileDescriptor fd(::open(idx_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd)
        throw Error("opening " + idx_path + ": " + errno_text());
    struct stat st;
    if (::fstat(fd.get(), &st) != 0)
        throw Error("stat " + idx_path + ": " + errno_text());
    const size_t size = size_t(st.st_size);
    if (size < kFanoutSize + 2 * kOidSize)
        throw Error("pack index too small: " + idx_path);
    void *m = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd.get(), 0);
    if (m == MAP_FAILED)
        throw Error("mapping " + idx_path + ": " + errno_text());
    idx_map_ = MappedFile(static_cast<const uint8_t *>(m), size);
    map_ = idx_map_.data();
    map_size_ = size;

    const auto bad = [&](const char *why) {
        return Error("bad pack index " + idx_path + ": " + why);
    };
    size_t pos = 0;
    if (std::memcmp(map_, "\377tOc", 4) == 0) {
        version_ = int(be32(map_ + 4));
        if (version_ != 2)
            throw bad("unsupported version");
        pos = 8;
    } else {
        version_ = 1;
    }
    if (size < pos + kFanoutSize + 2 * kOidSize)
        throw bad("truncated");
    fanout_ = map_ + pos;
    uint32_t prev = 0;
    for (int i = 0; i < 256; i++) {
        uint32_t v = be32(fanout_ + 4 * i);
        if (v < prev)
            throw bad("fanout not monotonic");
        prev = v;
    }
    count_ = prev;
    pos += kFanoutSize;
    const uint64_t n = count_;
    if (version_ == 1) {
        if (uint64_t(size) != pos + n * (4 + kOidSize) + 2 * kOidSize)
            throw bad("wrong size");
        oids_ = map_ + pos;
    } else {
        const uint64_t min = pos + n * (kOidSize + 4 + 4) + 2 * kOidSize;
        if (uint64_t(size) < min || (uint64_t(size) - min) % 8 != 0)
            throw bad("wrong size");
        oids_ = map_ + pos;
        offsets_ = oids_ + n * (kOidSize + 4); // after the oids and the CRCs
        large_ = offsets_ + n * 4;
        large_count_ = size_t((uint64_t(size) - min) / 8);
    }
}

void PackIndex::open_pack() {
    FileDescriptor fd(::open(pack_path_.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd)
        throw Error("opening " + pack_path_ + ": " + errno_text());
    struct stat st;
    if (::fstat(fd.get(), &st) != 0)
        throw Error("stat " + pack_path_ + ": " + errno_text());
    pack_size_ = uint64_t(st.st_size);
    if (pack_size_ < 12 + kOidSize)
        throw Error("pack file too small: " + pack_path_);
    uint8_t head[12];
    pread_exact(fd.get(), head, sizeof head, 0, pack_path_);
    if (std::memcmp(head, "PACK", 4) != 0)
        throw Error("not a pack file: " + pack_path_);
    uint32_t version = be32(head + 4);
    if (version != 2 && version != 3)
        throw Error("unsupported pack version in " + pack_path_);
    if (be32(head + 8) != count_)
        throw Error("pack and index disagree on the object count: " + pack_path_);
    uint8_t trailer[kOidSize];
    pread_exact(fd.get(), trailer, kOidSize, pack_size_ - kOidSize, pack_path_);
    if (std::memcmp(trailer, map_ + map_size_ - 2 * kOidSize, kOidSize) != 0)
        throw Error("pack checksum does not match its index: " + pack_path_);
    pack_fd_ = std::move(fd);
}

// Oids are uniformly distributed: within the fanout bucket, the position is
// first guessed from the id's next bytes, then bracketed by doubling steps
// around the guess (all near one another in memory), then bisected.
int64_t PackIndex::find(const git_oid &oid) const {
    const uint8_t *id = oid.id;
    auto [lo, hi] = fanout_range(fanout_, id[0]);
    if (lo >= hi)
        return -1;
    const size_t stride = version_ == 1 ? 4 + kOidSize : kOidSize;
    const uint8_t *base = version_ == 1 ? oids_ + 4 : oids_;
    const uint64_t key = be64(id);
    const auto cmp = [&](uint32_t i) { return compare_oid(base + size_t(i) * stride, id, key); };
    if (hi - lo > 8) {
        const uint64_t frac = key << 8; // the bits after the first byte
        const uint32_t g = lo + uint32_t((unsigned __int128)(hi - lo) * frac >> 64);
        int c = cmp(g);
        if (c == 0)
            return g;
        if (c < 0) {
            for (uint32_t step = 1;; step *= 2) {
                if (step >= hi - g)
                    break;
                const uint32_t probe = g + step;
                const int c2 = cmp(probe);
                if (c2 == 0)
                    return probe;
                if (c2 > 0) {
                    hi = probe;
                    break;
                }
                lo = probe + 1;
            }
            lo = std::max(lo, g + 1);
        } else {
            hi = g;
            for (uint32_t step = 1;; step *= 2) {
                if (step > g - lo)
                    break;
                const uint32_t probe = g - step;
                const int c2 = cmp(probe);
                if (c2 == 0)
                    return probe;
                if (c2 < 0) {
                    lo = probe + 1;
                    break;
                }
                hi = probe;
            }
        }
    }
    return bisect_oids(base, stride, lo, hi, id);
}

const uint8_t *PackIndex::oid_at(uint32_t pos) const {
    return version_ == 1 ? oids_ + size_t(pos) * (4 + kOidSize) + 4
                         : oids_ + size_t(pos) * kOidSize;
}

uint64_t PackIndex::offset_at(uint32_t pos) const {
    if (version_ == 1)
        return be32(oids_ + size_t(pos) * (4 + kOidSize));
    uint32_t v = be32(offsets_ + size_t(pos) * 4);
    if (!(v & 0x80000000u))
        return v;
    v &= 0x7fffffffu;
    if (v >= large_count_)
        throw Error("bad pack index for " + pack_path_ + ": large offset out of range");
    return be64(large_ + size_t(v) * 8);
}

// Entries by offset without a comparison sort: offsets are spread into
// about count_ buckets of equal width, then each (small) bucket is sorted.
// The bucket starts also make finding an offset's rank O(1) on average.
void PackIndex::build_sorted() const {
    const uint64_t limit = pack_size_ - kOidSize; // entries start before the trailer
    int shift = 0;
    while ((limit >> shift) > uint64_t(count_) + 1)
        shift++;
    bucket_shift_ = shift;
    const size_t buckets = size_t(limit >> shift) + 1;
    bucket_start_.assign(buckets + 1, 0);
    for (uint32_t i = 0; i < count_; i++) {
        const uint64_t off = offset_at(i);
        if (off < 12 || off >= limit)
            throw Error("bad pack index for " + pack_path_ + ": offset out of range");
        bucket_start_[size_t(off >> shift) + 1]++;
    }
    for (size_t b = 1; b <= buckets; b++)
        bucket_start_[b] += bucket_start_[b - 1];
    sorted_offsets_.resize(count_);
    sorted_pos_.resize(count_);
    {
        std::vector<uint32_t> fill(bucket_start_.begin(), bucket_start_.end() - 1);
        for (uint32_t i = 0; i < count_; i++) {
            const uint64_t off = offset_at(i);
            const uint32_t at = fill[size_t(off >> shift)]++;
            sorted_offsets_[at] = off;
            sorted_pos_[at] = i;
        }
    }
    for (size_t b = 0; b < buckets; b++) {
        const uint32_t first = bucket_start_[b], last = bucket_start_[b + 1];
        for (uint32_t i = first + 1; i < last; i++) { // insertion sort
            const uint64_t off = sorted_offsets_[i];
            const uint32_t pos = sorted_pos_[i];
            uint32_t j = i;
            for (; j > first && sorted_offsets_[j - 1] > off; j--) {
                sorted_offsets_[j] = sorted_offsets_[j - 1];
                sorted_pos_[j] = sorted_pos_[j - 1];
            }
            sorted_offsets_[j] = off;
            sorted_pos_[j] = pos;
        }
        for (uint32_t i = first + 1; i < last; i++)
            if (sorted_offsets_[i] == sorted_offsets_[i - 1])
                throw Error("bad pack index for " + pack_path_ + ": two entries at one offset");
    }
}

void PackIndex::build_ranks() const {
    ensure_sorted();
    rank_of_pos_.assign(count_, UINT32_MAX);
    for (uint32_t r = 0; r < count_; r++) {
        const uint32_t pos = sorted_pos(r);
        if (rank_of_pos_[pos] != UINT32_MAX)
            throw Error("bad reverse index for " + pack_path_);
        rank_of_pos_[pos] = r;
    }
}

uint32_t PackIndex::rank_of_pos(uint32_t pos) const {
    std::call_once(ranks_once_, [this] { build_ranks(); });
    return rank_of_pos_[pos];
}

uint64_t PackIndex::end_at_rank(size_t r) const {
    ensure_sorted();
    const uint64_t offset = sorted_offset(r);
    const uint64_t end = r + 1 < count_ ? sorted_offset(r + 1) : pack_size_ - kOidSize;
    if (end <= offset || end > pack_size_ - kOidSize)
        throw Error("bad pack index for " + pack_path_ + ": offsets out of order");
    return end;
}

uint64_t PackIndex::sorted_offset(size_t r) const {
    return rev_ ? offset_at(sorted_pos(r)) : sorted_offsets_[r];
}

uint32_t PackIndex::sorted_pos(size_t r) const {
    if (!rev_)
        return sorted_pos_[r];
    const uint32_t pos = be32(rev_ + 4 * r);
    if (pos >= count_)
        throw Error("bad reverse index for " + pack_path_);
    return pos;
}

size_t PackIndex::sorted_rank(uint64_t offset) const {
    if (rev_) {
        size_t lo = 0, hi = count_;
        while (lo < hi) {
            const size_t mid = lo + (hi - lo) / 2;
            if (sorted_offset(mid) < offset)
                lo = mid + 1;
            else
                hi = mid;
        }
        return lo;
    }
    ensure_sorted();
    const size_t b = size_t(offset >> bucket_shift_);
    if (b + 1 >= bucket_start_.size())
        return count_;
    const auto first = sorted_offsets_.begin() + bucket_start_[b];
    const auto last = sorted_offsets_.begin() + bucket_start_[b + 1];
    return size_t(std::lower_bound(first, last, offset) - sorted_offsets_.begin());
}

uint64_t PackIndex::entry_end(uint64_t offset) const {
    size_t r = sorted_rank(offset);
    if (r >= count_ || sorted_offset(r) != offset)
        throw Error("no pack entry at offset " + std::to_string(offset) + " of " + pack_path_);
    const uint64_t end = r + 1 < count_ ? sorted_offset(r + 1) : pack_size_ - kOidSize;
    if (end <= offset || end > pack_size_ - kOidSize)
        throw Error("bad pack index for " + pack_path_ + ": offsets out of order");
    return end;
}

bool PackIndex::read_entry_header(uint64_t offset, EntryHeader *h) const {
    const uint64_t data_end = pack_size() - GIT_OID_RAWSZ;
    if (pack_size() < 12 + GIT_OID_RAWSZ || offset < 12 || offset >= data_end)
        return false;
    uint8_t buf[kMaxEntryHeader];
    const size_t n = size_t(std::min<uint64_t>(sizeof buf, data_end - offset));
    pread_exact(pack_fd(), buf, n, offset, pack_path());
    return parse_entry_header(buf, n, offset, h);
}

int64_t PackIndex::pos_at_offset(uint64_t offset) const {
    size_t r = sorted_rank(offset);
    if (r >= count_ || sorted_offset(r) != offset)
        return -1;
    return sorted_pos(r);
}

bool PackIndex::entry_at(uint64_t offset, uint32_t *pos, uint64_t *end) const {
    const size_t r = sorted_rank(offset);
    if (r >= count_ || sorted_offset(r) != offset)
        return false;
    *pos = sorted_pos(r);
    *end = r + 1 < count_ ? sorted_offset(r + 1) : pack_size_ - kOidSize;
    return *end > offset && *end <= pack_size_ - kOidSize;
}

PackSet::PackSet(git_repository *repo) {
    std::string dir = git_repository_commondir(repo);
    if (!dir.empty() && dir.back() != '/')
        dir += '/';
    open_objects(dir + "objects");
}

// The packs of an object folder, then those of its alternates in the order
// git links them.
void PackSet::open_objects(const std::string &objects_dir) {
    folders_.push_back(objects_dir);
    open_dir(objects_dir + "/pack");
    for (const std::string &alt : list_alternates(objects_dir)) {
        folders_.push_back(alt);
        open_dir(alt + "/pack");
    }
}

PackSet::PackSet(const std::string &pack_dir) {
    open_dir(pack_dir);
}

void PackSet::open_dir(const std::string &pack_dir) {
    if (first_pack_dir_.empty())
        first_pack_dir_ = pack_dir;
    DIR *d = ::opendir(pack_dir.c_str());
    if (!d) {
        if (errno == ENOENT)
            return; // no packs yet
        throw Error("opening " + pack_dir + ": " + errno_text());
    }
    struct Found {
        std::string path;
        int64_t mtime;
    };
    std::vector<Found> found;
    while (struct dirent *e = ::readdir(d)) {
        std::string name = e->d_name;
        if (name.size() > 9 && name.compare(0, 5, "pack-") == 0 &&
            name.compare(name.size() - 4, 4, ".idx") == 0) {
            std::string path = pack_dir + "/" + name;
            struct stat st;
            if (::stat((path.substr(0, path.size() - 4) + ".pack").c_str(), &st) != 0)
                continue; // the pack is gone or not there yet
            found.push_back({path, int64_t(st.st_mtime)});
        }
    }
    ::closedir(d);
    // Newest first, as git searches them.
    std::sort(found.begin(), found.end(), [](const Found &a, const Found &b) {
        return a.mtime != b.mtime ? a.mtime > b.mtime : a.path < b.path;
    });
    for (const Found &f : found) {
        try {
            packs_.push_back(std::make_unique<PackIndex>(f.path));
            struct stat st;
            if (bitmap_candidate_ < 0 &&
                ::stat((f.path.substr(0, f.path.size() - 4) + ".bitmap").c_str(), &st) == 0)
                bitmap_candidate_ = int(packs_.size() - 1);
        } catch (const Error &) {
            // A pack removed by a concurrent repack since the listing is
            // skipped; anything else is an error.
            struct stat st;
            if (::stat(f.path.c_str(), &st) == 0 &&
                ::stat((f.path.substr(0, f.path.size() - 4) + ".pack").c_str(), &st) == 0)
                throw;
        }
    }
}

PackSet::~PackSet() = default;

// A bitmap that cannot be read (malformed, or written for another version
// of the pack) is not used: the walk finds the same objects.
void PackSet::load_bitmap() const {
    if (load_midx_bitmap() || bitmap_candidate_ < 0)
        return;
    const PackIndex &pack = *packs_[size_t(bitmap_candidate_)];
    const std::string &p = pack.pack_path();
    try {
        bitmap_ = std::make_unique<BitmapIndex>(p.substr(0, p.size() - 5) + ".bitmap", pack.count(),
                                                pack.pack_checksum());
        bitmap_order_ = std::make_unique<PackOrder>(*this, size_t(bitmap_candidate_));
    } catch (const Error &) {
        bitmap_.reset();
        bitmap_order_.reset();
    }
}

// git prefers the multi-pack-index's bitmap to a pack's. One that is
// malformed, lacks its reverse index, or names packs that are gone (a
// repack since) is not used.
bool PackSet::load_midx_bitmap() const {
    if (first_pack_dir_.empty())
        return false;
    try {
        std::unique_ptr<MultiPackIndex> midx = MultiPackIndex::open(first_pack_dir_);
        if (!midx || !midx->has_order())
            return false;
        const std::string path =
            first_pack_dir_ + "/multi-pack-index-" + midx->checksum_hex() + ".bitmap";
        struct stat st;
        if (::stat(path.c_str(), &st) != 0)
            return false;
        auto index = std::make_unique<BitmapIndex>(path, midx->count(), midx->checksum());
        bitmap_order_ = std::make_unique<MidxOrder>(*this, std::move(midx));
        bitmap_ = std::move(index);
        return true;
    } catch (const Error &) {
        bitmap_order_.reset();
        bitmap_.reset();
        return false;
    }
}

const BitmapIndex *PackSet::bitmap(const BitmapOrder **order) const {
    std::call_once(bitmap_once_, [this] { load_bitmap(); });
    *order = bitmap_order_.get();
    return bitmap_.get();
}

int PackSet::find(const git_oid &oid, uint64_t *offset, uint32_t *pos) const {
    const size_t n = packs_.size();
    const size_t hint = last_hit_.load(std::memory_order_relaxed);
    for (size_t k = 0; k < n; k++) {
        size_t i = (hint + k) % n;
        int64_t at = packs_[i]->find(oid);
        if (at >= 0) {
            last_hit_.store(i, std::memory_order_relaxed);
            *pos = uint32_t(at);
            *offset = packs_[i]->offset_at(uint32_t(at));
            return int(i);
        }
    }
    return -1;
}

} // namespace gsh::pack
