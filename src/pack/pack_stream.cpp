// PackStream: a pack written by copying entries from the packs on disk.
//
// The constructor finds every object in the pack indexes, sorts the entries
// by (pack, offset), reads each entry's header and decides how it is written:
//
//   Copy   the entry's bytes verbatim (a whole object, or a REF_DELTA whose
//          base is sent);
//   Ofs    an OFS_DELTA whose base is sent from the same pack: the header is
//          rewritten with the new distance (verbatim when it did not change),
//          the compressed delta is copied;
//   ToRef  a delta written as REF_DELTA (OFS_DELTA when the client did not ask
//          for ofs-delta, or when its base is sent from another pack);
//   Thin   a delta whose base is not sent but which the client has, in a
//          thin pack: written as REF_DELTA naming that base (a REF_DELTA on
//          disk is a Copy then);
//   Compose a delta whose base is neither sent nor known to the client, but
//          with a base further down its chain on disk that is: the deltas
//          down to that base are inflated and composed into one, deflated
//          and written as OFS_DELTA (base sent earlier, ofs-delta) or
//          REF_DELTA (the base is named by e.base as for ToRef, or by
//          thin_bases_ when the client has it);
//   Encode an object that would be written whole (stored whole on disk,
//          loose, or a delta whose base is not sent) when the client has,
//          or is sent, the object at the same path in the first parent of a
//          commit sent, or in a child the client has (a deepening): see
//          path_pairs.h. A delta is made against it in read() and kept when
//          it is less than half the object, as git's pack-objects does for
//          the objects it tries (REF_DELTA to what the client has, OFS_DELTA
//          to an entry sent). In an incremental fetch for everything
//          written whole (with a bitmap, only outside the bitmapped pack);
//          in a clone, and for the bitmapped pack, only for deltas whose
//          base is not sent. When no delta is kept: an entry stored whole is
//          copied after all, a delta that composes is composed down its
//          chain to an entry written before or a base the client has;
//   Whole  the object inflated, resolved and deflated again (loose objects,
//          deltas whose chain reaches no base that is sent or known).
//
// Every delta's base is written before the delta (order_bases()): entries
// are in (pack, offset) order except that a base planned after a delta that
// needs it is moved to just before that delta.
//
// read() then produces the pack in order; runs of verbatim entries that are
// contiguous on disk become one copy, read with large preads. Composing is
// planned from entry headers only and done by read(), one entry at a time,
// so that no more than one composed delta is ever held.
#include <git2.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "odb/delta_chain.h"
#include "pack/delta_encode.h"
#include "odb/object_reader.h"
#include "walk/object_walk.h"
#include "util/oid_set.h"
#include "odb/pack_format.h"
#include "odb/pack_index.h"
#include "pack/pack_stream.h"
#include "walk/path_pairs.h"
#include "util/sha1.h"
#include "util/git_ptr.h"
#include "odb/object_db.h"
#include "util/error.h"
#include "util/oid_hex.h"

namespace gsh::pack {

namespace {

constexpr uint32_t kLoose = UINT32_MAX;
constexpr uint32_t kNone = UINT32_MAX;
constexpr size_t kCopyBuffer = 128 * 1024;
constexpr size_t kHeaderWindow = 64 * 1024;
constexpr size_t kStreamThreshold = 16u << 20; // loose objects this large are streamed
constexpr size_t kStreamBuffer = 64 * 1024;
// Composing buffers larger than this are freed after their entry.
constexpr size_t kKeepScratch = 16u << 20;
// Writing a delta whole costs about as much as walking this many objects.
constexpr uint64_t kWidenRatio = 1000;
// Deltas are made only for objects and bases up to this size, and for no
// more than kEncodeBudget bytes of them (bases and objects read) in one
// pack: bounded work for what is an optimisation of the bytes sent.
constexpr size_t kMaxEncode = 16u << 20;
// Smaller objects are sent as they are: a delta would save a few bytes.
constexpr size_t kMinEncode = 64;
constexpr uint64_t kEncodeBudget = 256u << 20;
// Resolved delta bases kept while making deltas.
constexpr size_t kEncodeCache = 8u << 20;
// How far back along a path a base is looked for when the object at the
// same path in the parent can be neither sent as base nor assumed known.
constexpr size_t kMaxPairHops = 64;
// Other versions at an object's path tried as its base (git's delta window
// is 10).
constexpr size_t kMaxPathTries = 10;

enum Action : uint8_t {
    kCopy,
    kOfs,
    kToRef,
    kThin,
    kCompose,
    kComposeThin,
    kEncode,
    kEncodeThin,
    kWhole
};

bool thin_action(Action a) {
    return a == kThin || a == kComposeThin || a == kEncodeThin;
}

void put_be32(uint8_t *p, uint32_t v) {
    p[0] = uint8_t(v >> 24);
    p[1] = uint8_t(v >> 16);
    p[2] = uint8_t(v >> 8);
    p[3] = uint8_t(v);
}

int compression_level(git_repository *repo) {
    git_config *cfg = nullptr;
    if (git_repository_config_snapshot(&cfg, repo) < 0)
        return Z_DEFAULT_COMPRESSION;
    ConfigPtr owned(cfg);
    int32_t level;
    for (const char *key : {"pack.compression", "core.compression"})
        if (git_config_get_int32(&level, cfg, key) == 0 && level >= -1 && level <= 9)
            return level;
    git_error_clear();
    return Z_DEFAULT_COMPRESSION;
}

} // namespace

struct PackStream::Impl {
    // 48 bytes an object: a packed entry's oid is read from its pack index.
    struct Entry {
        uint64_t offset = 0;  // in the pack on disk
        uint64_t end = 0;     // where the entry ends there
        uint64_t size = 0;    // from the entry header
        uint64_t new_pos = 0; // in the pack produced
        uint32_t pack = kLoose;
        uint32_t pos = 0; // in the pack index; for a loose object, in loose_
        // The entry this one is a delta against; kThin, kComposeThin,
        // kEncodeThin: in thin_bases_.
        uint32_t base = kNone;
        uint8_t type = 0; // on disk
        uint8_t header_len = 0;
        Action action = kWhole;
        // kEncode, kEncodeThin: composing along the chain on disk is the
        // fallback when no delta is kept (compose_orphans() found a base).
        bool composable = false;
    };

    git_oid oid_of(const Entry &e) const {
        if (e.pack == kLoose)
            return loose_[e.pos];
        git_oid oid;
        std::memcpy(oid.id, packs_[e.pack].oid_at(e.pos), GIT_OID_RAWSZ);
        return oid;
    }

    Impl(git_repository *repo, Enumeration objects, PackOptions options,
         const std::function<void()> &checkpoint);
    ~Impl();

    size_t read(uint8_t *buf, size_t cap);
    void plan();
    void locate();
    void read_headers();
    void thin_out_orphans();
    void compose_orphans();
    bool usable_base(const git_oid &oid);
    void choose_actions();
    void break_cycles();
    void pair_by_path();
    uint32_t planned_base(size_t i) const;
    void order_bases();
    bool leads_to(uint32_t from, uint32_t to) const;
    const OidSet &sent();
    bool take_whole_pack();
    void start_next();
    void count_reused(const Entry &e);
    bool is_whole_file() const;
    void hash(const uint8_t *p, size_t n) {
        if (!whole_file_)
            sha_.update(p, n);
    }
    void start_whole(Entry &e);
    bool plan_composed(Entry &e, const DeltaChain::Usable &usable);
    bool start_composed(Entry &e);
    bool start_composed_written(Entry &e);
    bool start_encoded(Entry &e);
    void start_delta(const Entry &e, bool thin, const git_oid &base);
    void start_deflate(const uint8_t *data, size_t size);
    void feed_whole();
    bool verbatim(const Entry &e, uint64_t at) const;

    git_repository *repo_;
    OdbPtr odb_;
    std::shared_ptr<const PackSet> pack_set_;
    const PackSet &packs_;
    bool ofs_delta_;
    bool thin_;
    Enumeration known_; // its client_has(); the objects were moved out
    std::vector<git_oid> thin_bases_;
    std::vector<git_oid> sent_commits_; // in an incremental fetch
    // Deltas to be written whole for want of a base: (entry, base).
    std::vector<std::pair<uint32_t, git_oid>> orphans_;
    PackStats stats_;
    std::vector<Entry> entries_;
    std::vector<git_oid> loose_;     // objects in no pack
    std::vector<size_t> pack_begin_; // first entry of each pack (entries_ sorted by pack)
    std::unique_ptr<OidSet> sent_;   // oid -> entry index, made on first need
    Sha1 sha_;
    // The pack produced is a pack file on disk byte for byte: its checksum
    // is known.
    bool whole_file_ = false;

    // Planned and not yet produced, in this order: staged bytes, a copy
    // from a pack, a deflate stream.
    uint8_t staged_[kMaxEntryHeader + 32];
    size_t staged_len_ = 0, staged_pos_ = 0;
    size_t copy_pack_ = 0;
    uint64_t copy_from_ = 0, copy_to_ = 0;
    std::unique_ptr<uint8_t[]> copy_buf_;
    size_t copy_buf_pos_ = 0, copy_buf_len_ = 0;
    OdbObjectPtr whole_; // the object being deflated, or
    OdbStreamPtr whole_stream_;
    const uint8_t *whole_data_ = nullptr; // whole_'s data or composed_'s
    std::unique_ptr<DeltaChain> chain_;   // made on first need
    std::vector<uint8_t> composed_;       // or encoded
    std::unique_ptr<DeltaEncoder> encoder_;
    std::unique_ptr<ObjectReader> reader_; // for encoding, made on first need
    std::vector<uint8_t> base_copy_;
    uint64_t encode_budget_ = kEncodeBudget;
    size_t whole_size_ = 0, whole_fed_ = 0;
    std::unique_ptr<uint8_t[]> stream_buf_;
    z_stream zs_{};
    bool zs_ready_ = false;
    bool deflating_ = false;
    int level_ = Z_DEFAULT_COMPRESSION;

    size_t next_ = 0;       // next entry to plan
    uint64_t plan_pos_ = 0; // output position after everything planned
    bool trailer_ = false;  // the trailer is staged
};

PackStream::Impl::Impl(git_repository *repo, Enumeration objects, PackOptions options,
                       const std::function<void()> &checkpoint)
    : repo_(repo),
      pack_set_(objects.packs() ? objects.packs() : std::make_shared<const PackSet>(repo)),
      packs_(*pack_set_), ofs_delta_(options.ofs_delta), thin_(options.thin),
      known_(std::move(objects)) {
    git_odb *odb = nullptr;
    git_check(git_repository_odb(&odb, repo), "opening the object database");
    odb_.reset(odb);
    level_ = compression_level(repo);
    std::memcpy(staged_, "PACK", 4);
    put_be32(staged_ + 4, 2);
    staged_len_ = 12;
    plan_pos_ = 12;
    if (take_whole_pack())
        return;
    // Each step is linear or n log n in the objects: the time a stop waits.
    const auto step = [&checkpoint] {
        if (checkpoint)
            checkpoint();
    };
    // Listed before locate() takes the objects (pair_by_path() needs them).
    if (known_.client_has_any())
        sent_commits_ = known_.sent_commits();
    step();
    locate();
    step();
    read_headers();
    step();
    thin_out_orphans();
    step();
    compose_orphans();
    step();
    choose_actions();
    break_cycles();
    step();
    pair_by_path();
    step();
    order_bases();

    if (entries_.size() > UINT32_MAX)
        throw Error("too many objects for one pack");
    put_be32(staged_ + 8, uint32_t(entries_.size()));
    whole_file_ = is_whole_file();
}

// Every object of the bitmapped pack and nothing else (a clone of a
// repository packed into one pack): the pack file is the answer as it is, one
// copy from its first entry to its trailer, with no entry looked at.
bool PackStream::Impl::take_whole_pack() {
    size_t p = SIZE_MAX;
    const Bitset *bits = known_.pack_objects(&p);
    if (!bits || !ofs_delta_)
        return false;
    const PackIndex &pack = packs_[p];
    if (bits->count() != pack.count() || pack.count() > UINT32_MAX)
        return false;
    for (const git_oid &oid : known_.objects) {
        uint64_t offset;
        uint32_t pos;
        if (packs_.find(oid, &offset, &pos) != int(p))
            return false;
    }
    put_be32(staged_ + 8, uint32_t(pack.count()));
    uint8_t head[12];
    pread_exact(pack.pack_fd(), head, sizeof head, 0, pack.pack_path());
    if (std::memcmp(head, staged_, sizeof head) != 0 || pack.pack_size() < 32)
        return false;
    whole_file_ = true;
    copy_pack_ = p;
    copy_from_ = sizeof head;
    copy_to_ = pack.pack_size() - 20;
    plan_pos_ = copy_to_;
    stats_.objects = stats_.pack_reused = uint32_t(pack.count());
    known_.objects.clear();
    return true;
}

// Every object of one pack, each copied as it is (in pack order, so every
// OFS_DELTA keeps its distance), and the same header: a clone of a
// repository packed into one pack, whose checksum is the pack's own.
bool PackStream::Impl::is_whole_file() const {
    if (entries_.empty() || !loose_.empty())
        return false;
    const uint32_t p = entries_.front().pack;
    if (entries_.back().pack != p || entries_.size() != packs_[p].count())
        return false;
    for (const Entry &e : entries_)
        if (e.action != kCopy && e.action != kOfs)
            return false;
    uint8_t head[12];
    pread_exact(packs_[p].pack_fd(), head, sizeof head, 0, packs_[p].pack_path());
    return std::memcmp(head, staged_, sizeof head) == 0;
}

PackStream::Impl::~Impl() {
    if (zs_ready_)
        deflateEnd(&zs_);
}

// Finds each object in the packs; sorts by (pack, offset) with the objects
// in no pack last; drops duplicates. The objects of a bitmapped pack come
// in pack order already, with their ends: they are not sorted.
void PackStream::Impl::locate() {
    std::vector<git_oid> &objects = known_.objects;
    size_t bitmapped = SIZE_MAX;
    Bitset bits;
    if (const Bitset *b = known_.pack_objects(&bitmapped))
        bits = *b;
    entries_.reserve(objects.size() + bits.count());
    for (const git_oid &oid : objects) {
        Entry e;
        uint64_t offset;
        uint32_t pos;
        int p = packs_.find(oid, &offset, &pos);
        if (p >= 0 && size_t(p) == bitmapped) {
            bits.set(packs_[size_t(p)].rank_of_pos(pos));
            continue;
        }
        if (p >= 0) {
            e.pack = uint32_t(p);
            e.pos = pos;
            e.offset = offset;
        } else {
            e.pos = uint32_t(loose_.size());
            loose_.push_back(oid);
        }
        entries_.push_back(e);
    }
    objects.clear();
    objects.shrink_to_fit();
    std::sort(entries_.begin(), entries_.end(), [this](const Entry &a, const Entry &b) {
        if (a.pack != b.pack)
            return a.pack < b.pack;
        if (a.pack != kLoose)
            return a.offset < b.offset;
        return std::memcmp(loose_[a.pos].id, loose_[b.pos].id, GIT_OID_RAWSZ) < 0;
    });
    entries_.erase(std::unique(entries_.begin(), entries_.end(),
                               [this](const Entry &a, const Entry &b) {
                                   return a.pack == b.pack &&
                                          (a.pack != kLoose
                                               ? a.offset == b.offset
                                               : git_oid_equal(&loose_[a.pos], &loose_[b.pos]));
                               }),
                   entries_.end());
    if (bitmapped != SIZE_MAX) {
        // Between the packs before it and those after (and loose objects).
        auto at = std::find_if(entries_.begin(), entries_.end(),
                               [&](const Entry &e) { return e.pack > bitmapped; });
        std::vector<Entry> tail(at, entries_.end());
        entries_.erase(at, entries_.end());
        const PackIndex &pack = packs_[bitmapped];
        bits.for_each([&](size_t r) {
            Entry e;
            e.pack = uint32_t(bitmapped);
            e.pos = pack.pos_at_rank(r);
            e.offset = pack.offset_at_rank(r);
            e.end = pack.end_at_rank(r);
            entries_.push_back(e);
        });
        entries_.insert(entries_.end(), tail.begin(), tail.end());
    }
    size_t packed = 0;
    while (packed < entries_.size() && entries_[packed].pack != kLoose)
        packed++;
    pack_begin_.assign(packs_.size() + 1, packed);
    for (size_t i = packed; i-- > 0;)
        pack_begin_[entries_[i].pack] = i;
    for (size_t p = packs_.size(); p-- > 0;)
        pack_begin_[p] = std::min(pack_begin_[p], pack_begin_[p + 1]);
}

// Reads the header of every packed entry, through a window that moves
// forward over each pack and reads only as far as the entries need.
void PackStream::Impl::read_headers() {
    std::unique_ptr<uint8_t[]> window(new uint8_t[kHeaderWindow]);
    for (size_t p = 0; p < packs_.size(); p++) {
        const PackIndex &pack = packs_[p];
        uint64_t win_start = 0, win_len = 0;
        for (size_t i = pack_begin_[p]; i < pack_begin_[p + 1]; i++) {
            Entry &e = entries_[i];
            if (e.end == 0)
                e.end = pack.entry_end(e.offset);
            const size_t need = size_t(std::min<uint64_t>(kMaxEntryHeader, e.end - e.offset));
            if (e.offset < win_start || e.offset + need > win_start + win_len) {
                // Read up to the header of the last entry that fits.
                uint64_t until = e.offset + need;
                size_t j = i + 1;
                const uint64_t limit = e.offset + kHeaderWindow - kMaxEntryHeader;
                size_t lo = j, hi = pack_begin_[p + 1];
                while (lo < hi) {
                    size_t mid = lo + (hi - lo) / 2;
                    if (entries_[mid].offset <= limit)
                        lo = mid + 1;
                    else
                        hi = mid;
                }
                if (lo > j)
                    until = std::max(until, entries_[lo - 1].offset + kMaxEntryHeader);
                until = std::min(until, pack.pack_size());
                win_start = e.offset;
                win_len = until - e.offset;
                pread_exact(pack.pack_fd(), window.get(), size_t(win_len), win_start,
                            pack.pack_path());
            }
            EntryHeader h;
            if (!parse_entry_header(window.get() + (e.offset - win_start), need, e.offset, &h) ||
                h.length >= e.end - e.offset)
                throw Error("corrupt pack entry for " + oid_hex(oid_of(e)) + " in " +
                            pack.pack_path());
            e.type = h.type;
            e.header_len = h.length;
            e.size = h.size;
            if (h.type == kOfsDelta) {
                // The base: an entry sent from this pack, found by offset;
                // else by its oid (it may be sent from another pack).
                auto first = entries_.begin() + std::ptrdiff_t(pack_begin_[p]);
                auto last = entries_.begin() + std::ptrdiff_t(i);
                auto it =
                    std::lower_bound(first, last, h.base_offset,
                                     [](const Entry &x, uint64_t off) { return x.offset < off; });
                if (it != last && it->offset == h.base_offset) {
                    e.base = uint32_t(it - entries_.begin());
                    e.action = ofs_delta_ ? kOfs : kToRef;
                } else {
                    int64_t pos = pack.pos_at_offset(h.base_offset);
                    if (pos < 0)
                        throw Error("corrupt pack entry for " + oid_hex(oid_of(e)) + " in " +
                                    pack.pack_path() + ": no delta base at its offset");
                    git_oid base_oid;
                    std::memcpy(base_oid.id, pack.oid_at(uint32_t(pos)), GIT_OID_RAWSZ);
                    int64_t b = sent().find(base_oid);
                    if (b >= 0) {
                        e.base = uint32_t(b);
                        e.action = kToRef;
                    } else if (thin_ && known_.client_has(base_oid)) {
                        e.base = uint32_t(thin_bases_.size());
                        thin_bases_.push_back(base_oid);
                        e.action = kThin;
                    } else {
                        e.action = kWhole;
                        if (thin_)
                            orphans_.emplace_back(uint32_t(i), base_oid);
                    }
                }
            } else if (h.type == kRefDelta) {
                int64_t b = sent().find(h.base_oid);
                if (b >= 0) {
                    e.base = uint32_t(b);
                    e.action = kCopy;
                } else if (thin_ && known_.client_has(h.base_oid)) {
                    e.action = kCopy; // names a base the client has: already thin
                } else {
                    e.action = kWhole;
                    if (thin_)
                        orphans_.emplace_back(uint32_t(i), h.base_oid);
                }
            } else {
                e.action = kCopy;
            }
        }
    }
}

// Deltas whose base is neither sent nor at the walk's edge are inflated,
// resolved and deflated again (about a millisecond each, delta chains
// included). A walk of the haves' whole history (about a microsecond per
// object of the repository) finds most of their bases on the client's side:
// it is done when it costs less.
void PackStream::Impl::thin_out_orphans() {
    if (orphans_.empty() || !known_.can_widen())
        return;
    uint64_t objects = 0;
    for (size_t p = 0; p < packs_.size(); p++)
        objects += packs_[p].count();
    if (orphans_.size() * kWidenRatio < objects)
        return;
    known_.widen_known();
    for (const auto &[i, base] : orphans_) {
        if (!known_.client_has(base))
            continue;
        Entry &e = entries_[i];
        if (e.type == kRefDelta) {
            e.action = kCopy;
        } else {
            e.base = uint32_t(thin_bases_.size());
            thin_bases_.push_back(base);
            e.action = kThin;
        }
    }
    orphans_.clear();
    orphans_.shrink_to_fit();
}

// A delta whose base is neither sent nor known to the client is composed
// against the first base down its chain on disk that is, when there is one:
// a few deltas inflated and mapped through each other in read(), where
// writing it whole means resolving the object and deflating all of it.
// Only headers are read here.
void PackStream::Impl::compose_orphans() {
    const DeltaChain::Usable usable = [this](const git_oid &oid) { return usable_base(oid); };
    for (size_t i = 0; i < pack_begin_[packs_.size()]; i++) {
        Entry &e = entries_[i];
        if (e.action != kWhole || !is_delta(e.type))
            continue;
        if (!chain_)
            chain_ = std::make_unique<DeltaChain>(packs_);
        plan_composed(e, usable);
    }
}

// Plans e (a delta on disk) as composed down its chain to the first base
// usable says may be named: an entry sent (kCompose) or one the client has
// (kComposeThin). False, with e unchanged, when the chain has none.
bool PackStream::Impl::plan_composed(Entry &e, const DeltaChain::Usable &usable) {
    git_oid base;
    if (!chain_->follow(e.pack, e.offset, usable, &base))
        return false;
    if (const int64_t b = sent().find(base); b >= 0) {
        e.base = uint32_t(b);
        e.action = kCompose;
    } else {
        e.base = uint32_t(thin_bases_.size());
        thin_bases_.push_back(base);
        e.action = kComposeThin;
    }
    return true;
}

bool PackStream::Impl::usable_base(const git_oid &oid) {
    return sent().find(oid) >= 0 || (thin_ && known_.client_has(oid));
}

void PackStream::Impl::choose_actions() {
    // Objects in no pack (loose ones) are written whole; everything else was
    // decided with its header. A missing object is reported now rather than
    // in the middle of the stream.
    for (size_t i = pack_begin_[packs_.size()]; i < entries_.size(); i++) {
        entries_[i].action = kWhole;
        if (!git_odb_exists(odb_.get(), &loose_[entries_[i].pos]))
            throw Error("object " + oid_hex(loose_[entries_[i].pos]) + " is missing");
    }
}

// A delta reused against a base that is itself a reused delta that leads
// back to it (possible only with the same objects in several packs) would
// make an unresolvable pack: such a cycle is broken by writing one whole.
void PackStream::Impl::break_cycles() {
    auto base_of = [&](size_t i) { return planned_base(i); };
    std::vector<uint8_t> state(entries_.size(), 0); // 0 new, 1 on the path, 2 done
    std::vector<uint32_t> path;
    for (size_t i = 0; i < entries_.size(); i++) {
        if (state[i])
            continue;
        path.clear();
        uint32_t j = uint32_t(i);
        while (j != kNone && state[j] == 0) {
            state[j] = 1;
            path.push_back(j);
            j = base_of(j);
        }
        if (j != kNone && state[j] == 1) {
            Entry &e = entries_[path.back()];
            e.action = kWhole;
            e.base = kNone;
        }
        for (uint32_t k : path)
            state[k] = 2;
    }
}

// The entry that entries_[i] is planned as a delta against, or kNone (a
// whole object, or a delta against a base the client has).
uint32_t PackStream::Impl::planned_base(size_t i) const {
    const Entry &e = entries_[i];
    return e.action == kWhole || thin_action(e.action) ? kNone : e.base;
}

// Whether the bases planned from entry from lead to entry to.
bool PackStream::Impl::leads_to(uint32_t from, uint32_t to) const {
    for (size_t steps = 0; from != kNone && steps <= entries_.size(); steps++) {
        if (from == to)
            return true;
        from = planned_base(from);
    }
    return false;
}

// Every delta's base is written before the delta: a reader that indexes the
// pack in one pass (libgit2's indexer, a verifying proxy) cannot resolve a
// delta whose base comes later, and drops it. The (pack, offset) order puts
// bases first within a pack, but not a base in another pack or loose, one
// found by path (pair_by_path()) or down a chain, nor the appended bases of
// a pack that index-pack --fix-thin completed. A base planned after one of
// its deltas is moved to just before the first of them, with the bases it
// needs itself before it, as git's pack-objects writes a delta's base when
// it meets the delta. The plan has no cycle (break_cycles()).
void PackStream::Impl::order_bases() {
    const size_t n = entries_.size();
    bool forward = false;
    for (size_t i = 0; i < n && !forward; i++) {
        const uint32_t b = planned_base(i);
        forward = b != kNone && b > i;
    }
    if (!forward)
        return;
    std::vector<uint32_t> order;
    order.reserve(n);
    std::vector<uint8_t> placed(n, 0);
    std::vector<uint32_t> chain;
    for (size_t i = 0; i < n; i++) {
        chain.clear();
        for (uint32_t j = uint32_t(i); j != kNone && !placed[j]; j = planned_base(j)) {
            placed[j] = 1;
            chain.push_back(j);
        }
        order.insert(order.end(), chain.rbegin(), chain.rend());
    }
    std::vector<uint32_t> where(n);
    for (size_t k = 0; k < n; k++)
        where[order[k]] = uint32_t(k);
    std::vector<Entry> ordered;
    ordered.reserve(n);
    for (const uint32_t i : order) {
        Entry e = entries_[i];
        if (planned_base(i) != kNone)
            e.base = where[e.base];
        ordered.push_back(e);
    }
    entries_.swap(ordered);
    // Entry indexes are stale in both (sent() is made again if needed).
    sent_.reset();
    pack_begin_.clear();
}

// Finds bases for what would be written whole: see path_pairs.h. In an
// incremental fetch, for everything written whole; in a clone (which
// reuses every delta on disk whose base it sends), for the deltas whose
// base is not sent, as a single-branch clone has them: git searches them
// new bases too. Only trees are read here; the deltas are made in read().
void PackStream::Impl::pair_by_path() {
    const bool clone = !known_.client_has_any();
    if (sent_commits_.empty() && !clone)
        return;
    // With a bitmap, git sends the bitmapped pack's entries as they are on
    // disk (it has no edge trees to take bases from) where it can: so are
    // they here, but for deltas whose base is not sent. The CPU goes to
    // those, the loose objects and other packs.
    size_t bitmapped = SIZE_MAX;
    known_.pack_objects(&bitmapped);
    std::vector<uint32_t> candidates;
    for (size_t i = 0; i < entries_.size(); i++) {
        const Entry &e = entries_[i];
        const bool composed = e.action == kCompose || e.action == kComposeThin;
        const bool orphan =
            composed || (e.action == kWhole && e.pack != kLoose && is_delta(e.type));
        if ((e.pack == bitmapped || clone) && !orphan)
            continue;
        // What is stored whole on disk (the newest version of a file, as
        // git packs it) is copied whole unless it gets a base here.
        const bool stored_whole = e.action == kCopy && !is_delta(e.type);
        if (e.action != kWhole && !stored_whole && !composed)
            continue;
        // Commits and tags are not paired; a packed whole entry says its type.
        if (e.pack != kLoose && (e.type == kCommit || e.type == kTag))
            continue;
        if (e.pack != kLoose && !is_delta(e.type) && (e.size > kMaxEncode || e.size < kMinEncode))
            continue;
        candidates.push_back(uint32_t(i));
    }
    if (candidates.empty())
        return;
    if (clone) {
        // The commits sent, from the entries (a commit stored as a delta is
        // rare, and only loses its pairs).
        for (const Entry &e : entries_) {
            if (e.pack != kLoose ? e.type == kCommit : false)
                sent_commits_.push_back(oid_of(e));
        }
        for (const git_oid &oid : loose_) {
            size_t size;
            git_object_t type;
            if (git_odb_read_header(&size, &type, odb_.get(), &oid) == 0 &&
                type == GIT_OBJECT_COMMIT)
                sent_commits_.push_back(oid);
        }
        git_error_clear();
    }
    PathPairs pairs;
    try {
        ObjectParser objects(repo_, packs_);
        for (const git_oid &c : sent_commits_) {
            if (pairs.full())
                break;
            pairs.add_commit(objects, c);
        }
        // A deepened client has the children of the commits sent: their
        // objects are the newer versions of what is sent, and bases.
        for (const git_oid &c : known_.deepened_commits()) {
            if (pairs.full())
                break;
            try {
                pairs.add_commit(objects, c);
            } catch (const Error &) {
                git_error_clear(); // a have that is not a commit
            }
        }
    } catch (const Error &) {
        // An object the pairing could not read: the pack is written without
        // the pairs it did not find, and reports the object if it needs it.
        git_error_clear();
    }
    std::vector<git_oid>().swap(sent_commits_);
    // An object sent is never a thin base, even when the client has it
    // (widen_known() may say so): the pack would hold it twice, which
    // index-pack refuses. Nor is it named by a REF_DELTA: when the client
    // has it too, index-pack --fix-thin may take it from the client's
    // repository as well as resolve it in the pack, and resolve the delta
    // twice (and refuse the pack). In a thin pack only an OFS_DELTA is safe
    // (order_bases() writes its base first); a pack that is not thin
    // resolves whole without the client's objects.
    const auto take = [&](uint32_t i, const git_oid &base) {
        Entry &e = entries_[i];
        if (const int64_t b = sent().find(base); b >= 0) {
            if ((thin_ && !ofs_delta_) || leads_to(uint32_t(b), i))
                return false;
            e.composable = e.action == kCompose || e.action == kComposeThin;
            e.base = uint32_t(b);
            e.action = kEncode;
            return true;
        }
        if (!thin_ || !known_.client_has(base))
            return false;
        e.composable = e.action == kCompose || e.action == kComposeThin;
        e.base = uint32_t(thin_bases_.size());
        thin_bases_.push_back(base);
        e.action = kEncodeThin;
        return true;
    };
    for (const uint32_t i : candidates) {
        const git_oid oid = oid_of(entries_[i]);
        bool found = false;
        // The older versions first (as the object was paired), then the
        // newer ones (what a deepened client has).
        for (const auto step : {&PathPairs::base_of, &PathPairs::newer_of}) {
            const git_oid *base = (pairs.*step)(oid);
            for (size_t hop = 0; base && hop < kMaxPairHops && !found;
                 hop++, base = (pairs.*step)(*base))
                found = take(i, *base);
            if (found)
                break;
        }
        // Then another version at the same path: a branch's oldest versions
        // pair with what the client has, and git's delta window (sorted by
        // path) finds them bases on other branches.
        size_t tries = 0;
        if (!found)
            pairs.for_each_at_path(oid, [&](const git_oid &other) {
                return take(i, other) || ++tries >= kMaxPathTries;
            });
    }
}

const OidSet &PackStream::Impl::sent() {
    if (!sent_) {
        sent_ = std::make_unique<OidSet>(entries_.size());
        for (const Entry &e : entries_)
            sent_->insert(oid_of(e));
    }
    return *sent_;
}

// Whether e, planned at output position at, is its on-disk bytes unchanged.
bool PackStream::Impl::verbatim(const Entry &e, uint64_t at) const {
    if (e.action == kCopy)
        return true;
    if (e.action != kOfs)
        return false;
    const Entry &base = entries_[e.base];
    return at - base.new_pos == e.offset - base.offset;
}

void PackStream::Impl::count_reused(const Entry &e) {
    stats_.reused++;
    if (is_delta(e.type)) {
        stats_.deltas++;
        stats_.reused_deltas++;
        if (e.action == kThin || (e.action == kCopy && e.base == kNone))
            stats_.thin_deltas++;
    }
}

// Plans entries_[next_]: stages its header and sets up the copy or the
// deflate. A verbatim entry takes along the verbatim entries that follow it
// on disk, as one copy.
void PackStream::Impl::start_next() {
    Entry &e = entries_[next_++];
    e.new_pos = plan_pos_;
    stats_.objects++;
    if (e.action == kCompose || e.action == kComposeThin) {
        if (!start_composed(e))
            start_whole(e);
        return;
    }
    if (e.action == kEncode || e.action == kEncodeThin) {
        if (start_encoded(e) || (e.composable && start_composed_written(e)))
            return;
        if (e.pack == kLoose || is_delta(e.type)) {
            start_whole(e);
            return;
        }
        // Stored whole: copied as it is after all.
        e.action = kCopy;
        e.base = kNone;
    }
    if (e.action == kWhole) {
        start_whole(e);
        return;
    }
    count_reused(e);
    staged_len_ = staged_pos_ = 0;
    uint64_t from = e.offset;
    if (e.action == kThin) {
        staged_len_ = encode_type_size(staged_, kRefDelta, e.size);
        std::memcpy(staged_ + staged_len_, thin_bases_[e.base].id, GIT_OID_RAWSZ);
        staged_len_ += GIT_OID_RAWSZ;
        from = e.offset + e.header_len;
    } else if (!verbatim(e, e.new_pos)) {
        const Entry &base = entries_[e.base];
        if (e.action == kOfs) {
            staged_len_ = encode_type_size(staged_, kOfsDelta, e.size);
            staged_len_ += encode_ofs(staged_ + staged_len_, e.new_pos - base.new_pos);
        } else { // kToRef
            staged_len_ = encode_type_size(staged_, kRefDelta, e.size);
            std::memcpy(staged_ + staged_len_, oid_of(base).id, GIT_OID_RAWSZ);
            staged_len_ += GIT_OID_RAWSZ;
        }
        from = e.offset + e.header_len;
    }
    plan_pos_ += staged_len_ + (e.end - from);
    copy_pack_ = e.pack;
    copy_from_ = from;
    copy_to_ = e.end;
    // Extend the copy over the verbatim entries that follow on disk.
    while (next_ < entries_.size()) {
        Entry &n = entries_[next_];
        if (n.pack != e.pack || n.offset != copy_to_ || !verbatim(n, plan_pos_))
            break;
        n.new_pos = plan_pos_;
        stats_.objects++;
        count_reused(n);
        plan_pos_ += n.end - n.offset;
        copy_to_ = n.end;
        next_++;
    }
}

// Sets up an object to be written whole: its header is staged and its data
// deflated by read(). A large loose object is read as a stream (libgit2 can
// stream loose objects only), so that it is never whole in memory.
void PackStream::Impl::start_whole(Entry &e) {
    const git_oid oid = oid_of(e);
    const auto fail = [&oid]() {
        const git_error *err = git_error_last();
        return Error("reading object " + oid_hex(oid) + ": " +
                     (err && err->message ? err->message : "libgit2 error"));
    };
    git_object_t type = GIT_OBJECT_INVALID;
    size_t size = 0;
    whole_stream_.reset();
    whole_.reset();
    if (e.pack == kLoose) {
        if (git_odb_read_header(&size, &type, odb_.get(), &oid) < 0)
            throw fail();
        if (size >= kStreamThreshold) {
            git_odb_stream *st = nullptr;
            if (git_odb_open_rstream(&st, &size, &type, odb_.get(), &oid) == 0)
                whole_stream_.reset(st);
            else
                git_error_clear();
        }
    }
    if (!whole_stream_) {
        git_odb_object *obj = nullptr;
        if (git_odb_read(&obj, odb_.get(), &oid) < 0)
            throw fail();
        whole_.reset(obj);
        type = git_odb_object_type(obj);
        size = git_odb_object_size(obj);
    }
    staged_len_ = encode_type_size(staged_, type, size);
    staged_pos_ = 0;
    start_deflate(
        whole_ ? static_cast<const uint8_t *>(git_odb_object_data(whole_.get())) : nullptr, size);
}

// Sets up e, a delta on disk whose base is not sent, as composed down its
// chain to an entry already written or a base the client has (thin): the
// fallback of a delta made against its path pair that was not kept.
bool PackStream::Impl::start_composed_written(Entry &e) {
    const int64_t here = int64_t(next_ - 1);
    const DeltaChain::Usable usable = [&](const git_oid &oid) {
        const int64_t b = sent().find(oid);
        return b >= 0 ? b < here : thin_ && known_.client_has(oid);
    };
    return plan_composed(e, usable) && start_composed(e);
}

// Sets up e (kCompose or kComposeThin) as the delta from its planned base to
// its object, composed along its chain on disk. False when the chain does
// not compose (a corrupt entry; resolving the object whole reports it) or
// makes a delta larger than the object (written whole then, as git would).
bool PackStream::Impl::start_composed(Entry &e) {
    const bool thin = e.action == kComposeThin;
    const git_oid target = thin ? thin_bases_[e.base] : oid_of(entries_[e.base]);
    git_oid base;
    uint64_t base_size, result_size;
    if (!chain_->follow(
            e.pack, e.offset,
            [&target](const git_oid &oid) { return git_oid_equal(&oid, &target) != 0; }, &base) ||
        !chain_->compose(&composed_) ||
        !delta_sizes(composed_.data(), composed_.size(), &base_size, &result_size) ||
        composed_.size() >= result_size)
        return false;
    stats_.composed_deltas++;
    start_delta(e, thin, target);
    return true;
}

// Sets up e (kEncode or kEncodeThin) as a delta made against its planned
// base. False when either object is too large, the budget is spent, or the
// delta is not less than half the object.
bool PackStream::Impl::start_encoded(Entry &e) {
    const bool thin = e.action == kEncodeThin;
    const git_oid oid = oid_of(e);
    const git_oid base_oid = thin ? thin_bases_[e.base] : oid_of(entries_[e.base]);
    size_t size, base_size;
    git_object_t type, base_type;
    if (git_odb_read_header(&size, &type, odb_.get(), &oid) < 0 ||
        git_odb_read_header(&base_size, &base_type, odb_.get(), &base_oid) < 0) {
        git_error_clear();
        return false;
    }
    if (type != base_type || size > kMaxEncode || base_size > kMaxEncode ||
        size + base_size > encode_budget_ || size < kMinEncode)
        return false;
    encode_budget_ -= size + base_size;
    // Read with a cache of what delta chains resolve to: the versions of a
    // file are one chain on disk, and its bases are met again and again.
    if (!reader_)
        reader_ = std::make_unique<ObjectReader>(repo_, packs_, kEncodeCache);
    if (!encoder_)
        encoder_ = std::make_unique<DeltaEncoder>();
    try {
        const ObjectReader::Object b = reader_->read(base_oid);
        base_copy_.assign(b.data, b.data + b.size);
        const ObjectReader::Object t = reader_->read(oid);
        // git keeps a delta found by its search when it is under half the
        // object.
        if (t.size != size || !encoder_->encode(base_copy_.data(), base_copy_.size(), t.data,
                                                t.size, size / 2 - GIT_OID_RAWSZ, &composed_))
            return false;
    } catch (const Error &) {
        return false; // resolving the object whole reports what is wrong
    }
    stats_.encoded_deltas++;
    start_delta(e, thin, base_oid);
    return true;
}

// Starts deflating size bytes at data (or from whole_stream_ when data is
// null) after the staged header.
// Writes e's header as a delta of composed_ against base (an OFS_DELTA when
// the base is an earlier entry of this pack and the client takes them, else
// a REF_DELTA naming it) and starts deflating composed_.
void PackStream::Impl::start_delta(const Entry &e, bool thin, const git_oid &base) {
    whole_.reset();
    whole_stream_.reset();
    staged_pos_ = 0;
    if (!thin && ofs_delta_ && e.base < next_ - 1) {
        staged_len_ = encode_type_size(staged_, kOfsDelta, composed_.size());
        staged_len_ += encode_ofs(staged_ + staged_len_, e.new_pos - entries_[e.base].new_pos);
    } else {
        staged_len_ = encode_type_size(staged_, kRefDelta, composed_.size());
        std::memcpy(staged_ + staged_len_, base.id, GIT_OID_RAWSZ);
        staged_len_ += GIT_OID_RAWSZ;
    }
    stats_.deltas++;
    if (thin)
        stats_.thin_deltas++;
    start_deflate(composed_.data(), composed_.size());
}

void PackStream::Impl::start_deflate(const uint8_t *data, size_t size) {
    whole_data_ = data;
    whole_size_ = size;
    whole_fed_ = 0;
    if (!zs_ready_) {
        if (deflateInit(&zs_, level_) != Z_OK)
            throw Error("zlib: deflateInit failed");
        zs_ready_ = true;
    } else if (deflateReset(&zs_) != Z_OK) {
        throw Error("zlib: deflateReset failed");
    }
    plan_pos_ += staged_len_;
    zs_.avail_in = 0;
    deflating_ = true;
}

// Gives zlib the next piece of the whole object when it has used the last.
void PackStream::Impl::feed_whole() {
    if (zs_.avail_in != 0 || whole_fed_ == whole_size_)
        return;
    const size_t left = whole_size_ - whole_fed_;
    if (whole_data_) {
        zs_.next_in = const_cast<Bytef *>(whole_data_ + whole_fed_);
        zs_.avail_in = uInt(std::min<size_t>(left, 1u << 30));
    } else {
        if (!stream_buf_)
            stream_buf_.reset(new uint8_t[kStreamBuffer]);
        int got =
            git_odb_stream_read(whole_stream_.get(), reinterpret_cast<char *>(stream_buf_.get()),
                                std::min(left, kStreamBuffer));
        if (got <= 0)
            throw Error("reading a loose object: " +
                        std::string(got < 0 && git_error_last() ? git_error_last()->message
                                                                : "shorter than its header says"));
        zs_.next_in = stream_buf_.get();
        zs_.avail_in = uInt(got);
    }
    whole_fed_ += zs_.avail_in;
}

size_t PackStream::Impl::read(uint8_t *buf, size_t cap) {
    size_t n = 0;
    while (n < cap) {
        if (staged_pos_ < staged_len_) {
            size_t k = std::min(cap - n, staged_len_ - staged_pos_);
            std::memcpy(buf + n, staged_ + staged_pos_, k);
            if (!trailer_)
                hash(buf + n, k);
            staged_pos_ += k;
            n += k;
            continue;
        }
        if (trailer_)
            break;
        if (copy_buf_pos_ < copy_buf_len_) {
            size_t k = std::min(cap - n, copy_buf_len_ - copy_buf_pos_);
            std::memcpy(buf + n, copy_buf_.get() + copy_buf_pos_, k);
            hash(buf + n, k);
            copy_buf_pos_ += k;
            n += k;
            continue;
        }
        if (copy_from_ < copy_to_) {
            const PackIndex &pack = packs_[copy_pack_];
            const uint64_t left = copy_to_ - copy_from_;
            if (cap - n >= kCopyBuffer / 2 || left <= cap - n) {
                // Straight into the caller's buffer.
                size_t k = size_t(std::min<uint64_t>(cap - n, left));
                pread_exact(pack.pack_fd(), buf + n, k, copy_from_, pack.pack_path());
                hash(buf + n, k);
                copy_from_ += k;
                n += k;
            } else {
                if (!copy_buf_)
                    copy_buf_.reset(new uint8_t[kCopyBuffer]);
                size_t k = size_t(std::min<uint64_t>(kCopyBuffer, left));
                pread_exact(pack.pack_fd(), copy_buf_.get(), k, copy_from_, pack.pack_path());
                copy_from_ += k;
                copy_buf_pos_ = 0;
                copy_buf_len_ = k;
            }
            continue;
        }
        if (deflating_) {
            feed_whole();
            const size_t out_room = std::min<size_t>(cap - n, 1u << 30);
            zs_.next_out = buf + n;
            zs_.avail_out = uInt(out_room);
            const bool last = whole_fed_ == whole_size_;
            int rc = deflate(&zs_, last ? Z_FINISH : Z_NO_FLUSH);
            if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
                throw Error("zlib: deflate failed");
            const size_t k = out_room - zs_.avail_out;
            hash(buf + n, k);
            n += k;
            plan_pos_ += k;
            if (rc == Z_STREAM_END) {
                deflating_ = false;
                whole_data_ = nullptr;
                whole_.reset();
                whole_stream_.reset();
                if (composed_.capacity() > kKeepScratch) {
                    std::vector<uint8_t>().swap(composed_);
                    if (chain_)
                        chain_->trim(kKeepScratch);
                }
            }
            continue;
        }
        if (next_ < entries_.size()) {
            start_next();
            continue;
        }
        if (whole_file_) {
            std::memcpy(staged_, packs_[copy_pack_].pack_checksum(), 20);
            staged_len_ = 20;
        } else {
            Sha1::Digest d = sha_.final();
            std::memcpy(staged_, d.data(), d.size());
            staged_len_ = d.size();
        }
        staged_pos_ = 0;
        trailer_ = true;
    }
    stats_.bytes += n;
    return n;
}

PackStream::PackStream(git_repository *repo, Enumeration objects, PackOptions options,
                       const std::function<void()> &checkpoint)
    : impl_(std::make_unique<Impl>(repo, std::move(objects), options, checkpoint)) {}

PackStream::~PackStream() = default;

size_t PackStream::read(uint8_t *buf, size_t cap) {
    return impl_->read(buf, cap);
}

bool PackStream::done() const {
    return impl_->trailer_ && impl_->staged_pos_ == impl_->staged_len_;
}

const PackStats &PackStream::stats() const {
    return impl_->stats_;
}

} // namespace gsh::pack
