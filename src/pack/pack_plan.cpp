// PackPlan: which entries a pack holds, in what order, and how each is
// written from the packs on disk.
//
// The objects are found in the pack indexes, the entries sorted by (pack,
// offset), each entry's header read, and its action decided:
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
//          path_pairs.h. The writer makes a delta against it and keeps it
//          when it is less than half the object, as git's pack-objects does
//          for the objects it tries (REF_DELTA to what the client has,
//          OFS_DELTA to an entry sent). In an incremental fetch for
//          everything written whole (with a bitmap, only outside the
//          packs it numbers); in a clone, and for those packs, only for
//          deltas whose base is not sent. When no delta is kept: an entry
//          stored whole is copied after all, a delta that composes is
//          composed down its chain to an entry written before or a base the
//          client has (compose_to_written());
//   Whole  the object inflated, resolved and deflated again (loose objects,
//          deltas whose chain reaches no base that is sent or known).
//
// Every delta's base is written before the delta (order_bases()): entries
// are in (pack, offset) order except that a base planned after a delta that
// needs it is moved to just before that delta.
//
// Composing and encoding are planned from entry headers and trees only; the
// writer does them one entry at a time, so that no more than one delta made
// here is ever held.
#include "pack/pack_plan.h"

#include <git2.h>

#include <algorithm>
#include <cstring>
#include <iterator>
#include <string>
#include <utility>

#include "odb/bitmap_order.h"
#include "odb/loose_object.h"
#include "odb/object_db.h"
#include "odb/pack_format.h"
#include "pack/plan_memo.h"
#include "util/error.h"
#include "util/oid_hex.h"
#include "walk/object_walk.h"
#include "walk/path_pairs.h"

namespace gsh::pack {

namespace {

constexpr uint32_t kLoose = PlanEntry::kLoose;
constexpr uint32_t kNone = PlanEntry::kNone;
constexpr size_t kHeaderWindow = 64 * 1024;
// Writing a delta whole costs about as much as walking this many objects.
constexpr uint64_t kWidenRatio = 1000;
// How far back along a path a base is looked for when the object at the
// same path in the parent can be neither sent as base nor assumed known.
constexpr size_t kMaxPairHops = 64;
// Other versions at an object's path tried as its base (git's delta window
// is 10).
constexpr size_t kMaxPathTries = 10;
// Pairing reads the trees of every commit sent, about 40 us a commit (the
// nginx history: 0.3 s); writing a delta whole costs about a millisecond. A
// clone with a few deltas that lost their base (duplicates across packs, a
// broken cycle) writes them whole rather than diff the whole history; so
// does a fetch whose only candidates are such deltas (their base on a
// branch the client lacks: one in a fetch of 180 commits of the nginx
// history cost 40% of its CPU). Objects stored whole and loose ones are
// still paired in a fetch: each is a file's whole size, a delta a few bytes.
constexpr size_t kPairRatio = 25;

// The 12 bytes a pack of count objects starts with.
void pack_header(uint8_t *out, uint32_t count) {
    std::memcpy(out, "PACK", 4);
    const uint32_t fields[2] = {2, count};
    for (int f = 0; f < 2; f++)
        for (int b = 0; b < 4; b++)
            out[4 + 4 * f + b] = uint8_t(fields[f] >> (24 - 8 * b));
}

// Whether pack starts with the header of a pack of count objects.
bool has_header(const PackIndex &pack, size_t count) {
    uint8_t want[12], head[12];
    pack_header(want, uint32_t(count));
    pread_exact(pack.pack_fd(), head, sizeof head, 0, pack.pack_path());
    return std::memcmp(head, want, sizeof head) == 0;
}

} // namespace

// The steps of planning, and what they keep between them.
class Planner {
  public:
    Planner(PackPlan &plan) : p_(plan), packs_(*plan.packs_), known_(plan.known_) {}
    void run(const std::function<void()> &checkpoint);

  private:
    bool take_whole_pack();
    void locate();
    template <typename Fn>
    void for_each_ranked(const BitmapOrder &order, const Bitset &bits, Fn fn);
    void read_headers();
    void plan_delta(size_t i, const PackIndex &pack, size_t p, const EntryHeader &h);
    void thin_out_orphans();
    void compose_orphans();
    void choose_actions();
    void break_cycles();
    bool take_other_copy(uint32_t m);
    void pair_by_path();
    std::vector<uint32_t> pair_candidates(bool clone);
    bool pair_clone(std::vector<uint32_t> *candidates);
    void add_loose_commits();
    void add_pairs(PathPairs *pairs);
    bool take_base(uint32_t i, const git_oid &base);
    // A delta on disk whose base is neither sent nor the client's: written
    // whole, or composed down its chain.
    static bool is_orphan(const PlanEntry &e) {
        return e.action == Action::Compose || e.action == Action::ComposeThin ||
               (e.action == Action::Whole && e.pack != kLoose && is_delta(e.type));
    }
    bool leads_to(uint32_t from, uint32_t to) const;
    void order_bases();
    bool is_whole_file() const;
    git_oid oid_of(const PlanEntry &e) const { return p_.oid_of(e); }

    PackPlan &p_;
    const PackSet &packs_;
    Enumeration &known_;
    std::vector<PlanEntry> &entries_ = p_.entries_;
    std::vector<git_oid> &loose_ = p_.loose_;
    std::vector<git_oid> &thin_bases_ = p_.thin_bases_;
    const bool ofs_delta_ = p_.options_.ofs_delta;
    const bool thin_ = p_.options_.thin;
    std::vector<git_oid> sent_commits_; // in an incremental fetch
    // Deltas to be written whole for want of a base: (entry, base).
    std::vector<std::pair<uint32_t, git_oid>> orphans_;
    std::vector<size_t> pack_begin_;    // first entry of each pack (entries_ sorted by pack)
    std::unique_ptr<DeltaChain> chain_; // made on first need
};

void Planner::run(const std::function<void()> &checkpoint) {
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
    if (is_whole_file())
        p_.whole_file_ = entries_.front().pack;
}

// Every object of the bitmapped pack and nothing else (a clone of a
// repository packed into one pack): the pack file is the answer as it is, one
// copy from its first entry to its trailer, with no entry looked at.
bool Planner::take_whole_pack() {
    const BitmapOrder *order = nullptr;
    const Bitset *bits = known_.pack_objects(&order);
    if (!bits || !ofs_delta_ || order->single_pack() == SIZE_MAX)
        return false;
    const size_t p = order->single_pack();
    const PackIndex &pack = packs_[p];
    if (bits->count() != pack.count() || pack.count() > UINT32_MAX)
        return false;
    for (const git_oid &oid : known_.objects) {
        uint64_t offset;
        uint32_t pos;
        if (packs_.find(oid, &offset, &pos) != int(p))
            return false;
    }
    if (!has_header(pack, pack.count()) || pack.pack_size() < 32)
        return false;
    p_.whole_pack_ = p_.whole_file_ = p;
    known_.objects.clear();
    return true;
}

// Every object of one pack, each copied as it is (in pack order, so every
// OFS_DELTA keeps its distance), and the same header: a clone of a
// repository packed into one pack, whose checksum is the pack's own.
bool Planner::is_whole_file() const {
    if (entries_.empty() || !loose_.empty())
        return false;
    const uint32_t p = entries_.front().pack;
    if (entries_.back().pack != p || entries_.size() != packs_[p].count())
        return false;
    // In the file's order: break_cycles() may take an object's copy from
    // another place, order_bases() may move a base.
    for (size_t i = 0; i < entries_.size(); i++) {
        const PlanEntry &e = entries_[i];
        if ((e.action != Action::Copy && e.action != Action::Ofs) || e.pack != p ||
            (i > 0 && e.offset <= entries_[i - 1].offset))
            return false;
    }
    return has_header(packs_[p], entries_.size());
}

// Finds each object in the packs; sorts by (pack, offset) with the objects
// in no pack last; drops duplicates. The objects the bitmap numbers come
// by rank with their ends (ranked_entries()): they are not sorted again.
void Planner::locate() {
    std::vector<git_oid> &objects = known_.objects;
    const BitmapOrder *order = nullptr;
    Bitset bits;
    if (const Bitset *b = known_.pack_objects(&order))
        bits = *b;
    entries_.reserve(objects.size());
    for (const git_oid &oid : objects) {
        PlanEntry e;
        uint64_t offset;
        uint32_t pos;
        int p = packs_.find(oid, &offset, &pos);
        if (p >= 0 && order && order->covers(size_t(p))) {
            const int64_t r = size_t(p) == order->single_pack()
                                  ? int64_t(packs_[size_t(p)].rank_of_pos(pos))
                                  : order->rank_of(oid);
            if (r >= 0) {
                bits.set(size_t(r));
                continue;
            }
        }
        if (p >= 0) {
            e.pack = uint16_t(p);
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
    const auto before = [this](const PlanEntry &a, const PlanEntry &b) {
        if (a.pack != b.pack)
            return a.pack < b.pack;
        if (a.pack != kLoose)
            return a.offset < b.offset;
        return std::memcmp(loose_[a.pos].id, loose_[b.pos].id, GIT_OID_RAWSZ) < 0;
    };
    std::sort(entries_.begin(), entries_.end(), before);
    entries_.erase(std::unique(entries_.begin(), entries_.end(),
                               [this](const PlanEntry &a, const PlanEntry &b) {
                                   return a.pack == b.pack &&
                                          (a.pack != kLoose
                                               ? a.offset == b.offset
                                               : git_oid_equal(&loose_[a.pos], &loose_[b.pos]));
                               }),
                   entries_.end());
    if (order) {
        // The packs the bitmap numbers hold nothing of entries_. Merged as
        // they come: a clone's entries are the plan's largest part, and
        // they are made once, not listed and then copied.
        std::vector<PlanEntry> merged;
        merged.reserve(entries_.size() + bits.count());
        size_t i = 0;
        for_each_ranked(*order, bits, [&](const PlanEntry &r) {
            for (; i < entries_.size() && before(entries_[i], r); i++)
                merged.push_back(entries_[i]);
            merged.push_back(r);
        });
        merged.insert(merged.end(), entries_.begin() + std::ptrdiff_t(i), entries_.end());
        entries_.swap(merged);
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

// Calls fn with the entries of the ranks set in bits, by (pack, offset): the
// order's blocks are in the PackSet's order of the packs, each by offset.
template <typename Fn>
void Planner::for_each_ranked(const BitmapOrder &order, const Bitset &bits, Fn fn) {
    const std::vector<uint64_t> &words = bits.words();
    for (const BitmapOrder::Block &b : order.blocks()) {
        const PackIndex &pack = packs_[b.pack];
        const size_t end = std::min<size_t>(size_t(b.first) + b.count, words.size() * 64);
        for (size_t w = b.first / 64; w * 64 < end; w++) {
            uint64_t word = words[w];
            if (w * 64 < b.first)
                word &= ~uint64_t(0) << (b.first % 64);
            if (end - w * 64 < 64)
                word &= (uint64_t(1) << (end - w * 64)) - 1;
            for (; word; word &= word - 1) {
                const size_t r = w * 64 + size_t(__builtin_ctzll(word));
                PlanEntry e;
                if (b.direct) {
                    const size_t k = r - b.first;
                    e.pack = b.pack;
                    e.pos = pack.pos_at_rank(k);
                    e.offset = pack.offset_at_rank(k);
                    e.set_extent(pack.end_at_rank(k));
                } else {
                    const OrderedEntry o = order.entry_at_rank(r);
                    e.pack = o.pack;
                    e.pos = o.pos;
                    e.offset = o.offset;
                    e.set_extent(o.end);
                }
                fn(e);
            }
        }
    }
}

// Reads the header of every packed entry, through a window that moves
// forward over each pack and reads only as far as the entries need.
void Planner::read_headers() {
    std::unique_ptr<uint8_t[]> window(new uint8_t[kHeaderWindow]);
    for (size_t p = 0; p < packs_.size(); p++) {
        const PackIndex &pack = packs_[p];
        uint64_t win_start = 0, win_len = 0;
        for (size_t i = pack_begin_[p]; i < pack_begin_[p + 1]; i++) {
            PlanEntry &e = entries_[i];
            if (e.len == 0)
                e.set_extent(pack.entry_end(e.offset));
            const uint64_t len = p_.end_of(e) - e.offset;
            const size_t need = size_t(std::min<uint64_t>(kMaxEntryHeader, len));
            if (e.offset < win_start || e.offset + need > win_start + win_len) {
                // Read up to the header of the last entry that fits.
                uint64_t until = e.offset + need;
                const uint64_t limit = e.offset + kHeaderWindow - kMaxEntryHeader;
                const auto first = entries_.begin() + std::ptrdiff_t(i + 1);
                const auto last = std::partition_point(
                    first, entries_.begin() + std::ptrdiff_t(pack_begin_[p + 1]),
                    [limit](const PlanEntry &x) { return x.offset <= limit; });
                if (last != first)
                    until = std::max(until, (last - 1)->offset + kMaxEntryHeader);
                until = std::min(until, pack.pack_size());
                win_start = e.offset;
                win_len = until - e.offset;
                pread_exact(pack.pack_fd(), window.get(), size_t(win_len), win_start,
                            pack.pack_path());
            }
            EntryHeader h;
            if (!parse_entry_header(window.get() + (e.offset - win_start), need, e.offset, &h) ||
                h.length >= len)
                throw Error("corrupt pack entry for " + oid_hex(oid_of(e)) + " in " +
                            pack.pack_path());
            e.type = h.type;
            e.header_len = h.length;
            e.set_size(h.size);
            plan_delta(i, pack, p, h);
        }
    }
}

// The action of entries_[i], whose header h was read from pack (packs_[p]).
void Planner::plan_delta(size_t i, const PackIndex &pack, size_t p, const EntryHeader &h) {
    PlanEntry &e = entries_[i];
    git_oid base_oid;
    if (h.type == kOfsDelta) {
        // The base: an entry sent from this pack, found by offset; else by
        // its oid (it may be sent from another pack).
        auto first = entries_.begin() + std::ptrdiff_t(pack_begin_[p]);
        auto last = entries_.begin() + std::ptrdiff_t(i);
        auto it = std::lower_bound(first, last, h.base_offset,
                                   [](const PlanEntry &x, uint64_t off) { return x.offset < off; });
        if (it != last && it->offset == h.base_offset) {
            e.base = uint32_t(it - entries_.begin());
            e.action = ofs_delta_ ? Action::Ofs : Action::ToRef;
            return;
        }
        int64_t pos = pack.pos_at_offset(h.base_offset);
        if (pos < 0)
            throw Error("corrupt pack entry for " + oid_hex(oid_of(e)) + " in " + pack.pack_path() +
                        ": no delta base at its offset");
        std::memcpy(base_oid.id, pack.oid_at(uint32_t(pos)), GIT_OID_RAWSZ);
    } else if (h.type == kRefDelta) {
        base_oid = h.base_oid;
    } else {
        e.action = Action::Copy;
        return;
    }
    const bool ofs = h.type == kOfsDelta;
    if (int64_t b = p_.find(base_oid); b >= 0) {
        e.base = uint32_t(b);
        e.action = ofs ? Action::ToRef : Action::Copy;
    } else if (p_.client_has(base_oid)) {
        // A REF_DELTA on disk names a base the client has: already thin.
        e.action = ofs ? Action::Thin : Action::Copy;
        if (ofs) {
            e.base = uint32_t(thin_bases_.size());
            thin_bases_.push_back(base_oid);
        }
    } else {
        e.action = Action::Whole;
        if (thin_)
            orphans_.emplace_back(uint32_t(i), base_oid);
    }
}

// Deltas whose base is neither sent nor at the walk's edge are inflated,
// resolved and deflated again (about a millisecond each, delta chains
// included). A walk of the haves' whole history (about a microsecond per
// object of the repository) finds most of their bases on the client's side:
// it is done when it costs less.
void Planner::thin_out_orphans() {
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
        PlanEntry &e = entries_[i];
        if (e.type == kRefDelta) {
            e.action = Action::Copy;
        } else {
            e.base = uint32_t(thin_bases_.size());
            thin_bases_.push_back(base);
            e.action = Action::Thin;
        }
    }
    orphans_.clear();
    orphans_.shrink_to_fit();
}

// A delta whose base is neither sent nor known to the client is composed
// against the first base down its chain on disk that is, when there is one:
// a few deltas inflated and mapped through each other by the writer, where
// writing it whole means resolving the object and deflating all of it.
// Only headers are read here.
void Planner::compose_orphans() {
    const DeltaChain::Usable usable = [this](const git_oid &oid) {
        return p_.find(oid) >= 0 || p_.client_has(oid);
    };
    for (size_t i = 0; i < pack_begin_[packs_.size()]; i++) {
        PlanEntry &e = entries_[i];
        if (e.action != Action::Whole || !is_delta(e.type))
            continue;
        if (!chain_)
            chain_ = std::make_unique<DeltaChain>(packs_);
        p_.plan_composed(e, *chain_, usable);
    }
}

void Planner::choose_actions() {
    // Objects in no pack (loose ones) are written whole; everything else was
    // decided with its header. A missing object is reported now rather than
    // in the middle of the stream.
    for (size_t i = pack_begin_[packs_.size()]; i < entries_.size(); i++) {
        entries_[i].action = Action::Whole;
        if (!git_odb_exists(p_.odb(), &loose_[entries_[i].pos]))
            throw Error("object " + oid_hex(loose_[entries_[i].pos]) + " is missing");
    }
}

// A delta reused against a base that is itself a reused delta that leads
// back to it (possible only with the same objects in several packs) would
// make an unresolvable pack. Such a cycle is broken by sending another copy
// of one of its objects, when one of them has a copy that is whole or a delta
// against a base outside the cycle; else by writing one whole, which means
// resolving it and deflating it all again on every clone (a file of 900 kB in
// the nginx history took 20 ms).
void Planner::break_cycles() {
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
            j = p_.planned_base(j);
        }
        if (j != kNone && state[j] == 1) {
            const auto cycle = std::find(path.begin(), path.end(), j);
            if (std::none_of(cycle, path.end(),
                             [this](uint32_t m) { return take_other_copy(m); })) {
                PlanEntry &e = entries_[path.back()];
                e.action = Action::Whole;
                e.base = kNone;
            }
        }
        for (uint32_t k : path)
            state[k] = 2;
    }
}

// Plans entries_[m] from a copy of its object in another pack, when that copy
// is whole or a delta whose base is sent and does not lead back to m.
bool Planner::take_other_copy(uint32_t m) {
    PlanEntry &e = entries_[m];
    if (e.pack == kLoose)
        return false;
    const git_oid oid = oid_of(e);
    for (size_t q = 0; q < packs_.size(); q++) {
        const PackIndex &pack = packs_[q];
        const int64_t pos = q == e.pack ? -1 : pack.find(oid);
        if (pos < 0)
            continue;
        PlanEntry c;
        c.pack = uint16_t(q);
        c.pos = uint32_t(pos);
        c.offset = pack.offset_at(c.pos);
        c.set_extent(pack.entry_end(c.offset));
        EntryHeader h;
        if (!pack.read_entry_header(c.offset, &h) || h.length >= p_.end_of(c) - c.offset)
            continue;
        c.type = h.type;
        c.header_len = h.length;
        c.set_size(h.size);
        c.action = Action::Copy;
        if (is_delta(h.type)) {
            git_oid base = h.base_oid;
            if (h.type == kOfsDelta) {
                const int64_t at = pack.pos_at_offset(h.base_offset);
                if (at < 0)
                    continue;
                std::memcpy(base.id, pack.oid_at(uint32_t(at)), GIT_OID_RAWSZ);
                c.action = Action::ToRef;
            }
            const int64_t b = p_.find(base);
            if (b < 0 || leads_to(uint32_t(b), m))
                continue;
            c.base = uint32_t(b);
        }
        e = c;
        // Its OFS_DELTAs are no longer at the distance their headers say.
        for (PlanEntry &d : entries_)
            if (d.action == Action::Ofs && d.base == m)
                d.action = Action::ToRef;
        return true;
    }
    return false;
}

// Whether the bases planned from entry from lead to entry to.
bool Planner::leads_to(uint32_t from, uint32_t to) const {
    for (size_t steps = 0; from != kNone && steps <= entries_.size(); steps++) {
        if (from == to)
            return true;
        from = p_.planned_base(from);
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
void Planner::order_bases() {
    const size_t n = entries_.size();
    bool forward = false;
    for (size_t i = 0; i < n && !forward; i++) {
        const uint32_t b = p_.planned_base(i);
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
        for (uint32_t j = uint32_t(i); j != kNone && !placed[j]; j = p_.planned_base(j)) {
            placed[j] = 1;
            chain.push_back(j);
        }
        order.insert(order.end(), chain.rbegin(), chain.rend());
    }
    {
        std::vector<uint32_t> where(n);
        for (size_t k = 0; k < n; k++)
            where[order[k]] = uint32_t(k);
        for (size_t i = 0; i < n; i++)
            if (p_.planned_base(i) != kNone)
                entries_[i].base = where[entries_[i].base];
    }
    // Moved in place, cycle by cycle (entries_[k] becomes the entry at
    // order[k]): a copy would double the plan's memory for a moment.
    std::fill(placed.begin(), placed.end(), 0);
    for (size_t k = 0; k < n; k++) {
        if (placed[k])
            continue;
        const PlanEntry first = entries_[k];
        size_t j = k;
        for (; order[j] != k; j = order[j]) {
            placed[j] = 1;
            entries_[j] = entries_[order[j]];
        }
        placed[j] = 1;
        entries_[j] = first;
    }
    // Entry indexes are stale in both (the oid index is made again if needed).
    p_.sent_.reset();
    pack_begin_.clear();
}

// Finds bases for what would be written whole: see path_pairs.h. In an
// incremental fetch, for everything written whole; in a clone (which
// reuses every delta on disk whose base it sends), for the deltas whose
// base is not sent, as a single-branch clone has them: git searches them
// new bases too. Only trees are read here; the writer makes the deltas.
void Planner::pair_by_path() {
    const bool clone = !known_.client_has_any();
    if (sent_commits_.empty() && !clone)
        return;
    std::vector<uint32_t> candidates = pair_candidates(clone);
    if (candidates.empty())
        return;
    if (clone && !pair_clone(&candidates))
        return;
    const bool few = candidates.size() * kPairRatio < sent_commits_.size();
    if (few && !clone && std::all_of(candidates.begin(), candidates.end(), [&](uint32_t i) {
            return is_orphan(entries_[i]);
        }))
        return;
    PathPairs pairs;
    add_pairs(&pairs);
    std::vector<git_oid>().swap(sent_commits_);
    for (const uint32_t i : candidates) {
        const git_oid oid = oid_of(entries_[i]);
        bool found = false;
        // The older versions first (as the object was paired), then the
        // newer ones (what a deepened client has).
        for (const auto step : {&PathPairs::base_of, &PathPairs::newer_of}) {
            const git_oid *base = (pairs.*step)(oid);
            for (size_t hop = 0; base && hop < kMaxPairHops && !found;
                 hop++, base = (pairs.*step)(*base))
                found = take_base(i, *base);
            if (found)
                break;
        }
        // Then another version at the same path: a branch's oldest versions
        // pair with what the client has, and git's delta window (sorted by
        // path) finds them bases on other branches.
        size_t tries = 0;
        if (!found)
            pairs.for_each_at_path(oid, [&](const git_oid &other) {
                return take_base(i, other) || ++tries >= kMaxPathTries;
            });
    }
}

// The entries pair_by_path() looks for a base for.
std::vector<uint32_t> Planner::pair_candidates(bool clone) {
    // With a bitmap, git sends the entries of the packs it numbers as they
    // are on disk (it has no edge trees to take bases from) where it can:
    // so are they here, but for deltas whose base is not sent. The CPU goes
    // to those, the loose objects and other packs.
    const BitmapOrder *order = nullptr;
    known_.pack_objects(&order);
    std::vector<uint32_t> candidates;
    for (size_t i = 0; i < entries_.size(); i++) {
        const PlanEntry &e = entries_[i];
        const bool composed = e.action == Action::Compose || e.action == Action::ComposeThin;
        if (((order && order->covers(e.pack)) || clone) && !is_orphan(e) &&
            !(clone && e.pack == kLoose))
            continue;
        // What is stored whole on disk (the newest version of a file, as
        // git packs it) is copied whole unless it gets a base here.
        const bool stored_whole = e.action == Action::Copy && !is_delta(e.type);
        if (e.action != Action::Whole && !stored_whole && !composed)
            continue;
        // Commits and tags are not paired; a packed whole entry says its type.
        if (e.pack != kLoose && (e.type == kCommit || e.type == kTag))
            continue;
        if (e.pack != kLoose && !is_delta(e.type) && (e.size > kMaxEncode || e.size < kMinEncode))
            continue;
        candidates.push_back(uint32_t(i));
    }
    return candidates;
}

// In a clone, the candidates are the loose objects (what pushes left since
// the last repack, which git's pack-objects deltifies too: written whole,
// the trees of a repository of large folders cost 90% of a blobless clone)
// and the orphans. The loose ones are paired by the loose commits alone,
// the orphans by every commit sent, when there are enough of them to be
// worth it. False: nothing to pair.
bool Planner::pair_clone(std::vector<uint32_t> *candidates) {
    add_loose_commits();
    const auto loose = std::partition(candidates->begin(), candidates->end(),
                                      [&](uint32_t i) { return entries_[i].pack != kLoose; });
    const size_t orphans = size_t(loose - candidates->begin());
    const size_t loose_commits = sent_commits_.size();
    for (const PlanEntry &e : entries_) {
        if (e.pack != kLoose && e.type == kCommit)
            sent_commits_.push_back(oid_of(e));
    }
    if (orphans * kPairRatio < sent_commits_.size()) {
        candidates->erase(candidates->begin(), loose);
        sent_commits_.resize(loose_commits);
    }
    return !candidates->empty() && !sent_commits_.empty();
}

// The loose commits (a commit stored as a delta is rare, and only loses its
// pairs).
void Planner::add_loose_commits() {
    for (const git_oid &oid : loose_) {
        // The file's header, as libgit2 would read it after a look in every
        // pack index.
        git_object_t type = GIT_OBJECT_INVALID;
        for (const std::string &folder : packs_.object_folders()) {
            LooseObject file;
            if (const int rc = file.open(folder, oid); rc != GIT_ENOTFOUND) {
                type = rc == 0 ? file.type() : type;
                break;
            }
        }
        if (type == GIT_OBJECT_COMMIT)
            sent_commits_.push_back(oid);
    }
    git_error_clear();
}

// The paths of the commits sent and of those a deepened client has.
void Planner::add_pairs(PathPairs *pairs) {
    try {
        ObjectParser objects(p_.repo(), packs_);
        for (const git_oid &c : sent_commits_) {
            if (pairs->full())
                break;
            pairs->add_commit(objects, c);
        }
        // A deepened client has the children of the commits sent: their
        // objects are the newer versions of what is sent, and bases.
        for (const git_oid &c : known_.deepened_commits()) {
            if (pairs->full())
                break;
            try {
                pairs->add_commit(objects, c);
            } catch (const Error &) {
                git_error_clear(); // a have that is not a commit
            }
        }
    } catch (const Error &) {
        // An object the pairing could not read: the pack is written without
        // the pairs it did not find, and reports the object if it needs it.
        // Such a plan is not kept (the failure may pass).
        git_error_clear();
        p_.keepable_ = false;
    }
}

// Plans entries_[i] as a delta to be made against base, when base may be
// named. An object sent is never a thin base, even when the client has it
// (widen_known() may say so): the pack would hold it twice, which
// index-pack refuses. Nor is it named by a REF_DELTA: when the client has
// it too, index-pack --fix-thin may take it from the client's repository
// as well as resolve it in the pack, and resolve the delta twice (and
// refuse the pack). In a thin pack only an OFS_DELTA is safe (order_bases()
// writes its base first); a pack that is not thin resolves whole without
// the client's objects.
bool Planner::take_base(uint32_t i, const git_oid &base) {
    PlanEntry &e = entries_[i];
    if (const int64_t b = p_.find(base); b >= 0) {
        if ((thin_ && !ofs_delta_) || leads_to(uint32_t(b), i))
            return false;
        e.composable = e.action == Action::Compose || e.action == Action::ComposeThin;
        e.base = uint32_t(b);
        e.action = Action::Encode;
        return true;
    }
    if (!p_.client_has(base))
        return false;
    e.composable = e.action == Action::Compose || e.action == Action::ComposeThin;
    e.base = uint32_t(thin_bases_.size());
    thin_bases_.push_back(base);
    e.action = Action::EncodeThin;
    return true;
}

PackPlan::PackPlan(git_repository *repo, PackOptions options)
    : repo_(repo), packs_(std::make_shared<const PackSet>(repo)), options_(options) {
    git_odb *odb = nullptr;
    git_check(git_repository_odb(&odb, repo), "opening the object database");
    odb_.reset(odb);
    check_fits();
}

PackPlan::PackPlan(git_repository *repo, Enumeration objects, PackOptions options,
                   const std::function<void()> &checkpoint)
    : repo_(repo),
      packs_(objects.packs() ? objects.packs() : std::make_shared<const PackSet>(repo)),
      options_(options), known_(std::move(objects)) {
    git_odb *odb = nullptr;
    git_check(git_repository_odb(&odb, repo), "opening the object database");
    odb_.reset(odb);
    check_fits();
    const std::optional<PlanMemo::Key> key =
        PlanMemo::may_keep(known_.count()) ? PlanMemo::key_of(known_, options_) : std::nullopt;
    PlanMemo *memo = key ? &packs_->memo<PlanMemo>() : nullptr;
    bool claimed = false;
    if (memo) {
        if (const auto kept = memo->find_or_claim(*key, checkpoint, &claimed)) {
            std::vector<git_oid>().swap(known_.objects);
            shared_ = kept->entries;
            loose_ = kept->loose;
            whole_pack_ = kept->whole_pack;
            whole_file_ = kept->whole_file;
            return;
        }
    }
    // A claim ends however planning does: a request stopped or a missing
    // object must not leave the identical clones behind it waiting.
    struct Claim {
        PlanMemo *memo;
        const PlanMemo::Key *key;
        ~Claim() {
            if (memo)
                memo->release(*key);
        }
    } claim{claimed ? memo : nullptr, key ? &*key : nullptr};
    Planner(*this).run(checkpoint);
    if (memo && thin_bases_.empty() && keepable_) {
        shared_ = std::make_shared<const std::vector<PlanEntry>>(std::move(entries_));
        entries_ = {};
        memo->keep(*key, std::make_shared<const PlanMemo::Plan>(
                             PlanMemo::Plan{shared_, loose_, whole_pack_, whole_file_}));
    }
}

std::vector<PlanEntry> &PackPlan::edit_entries() {
    if (shared_) {
        entries_ = *shared_;
        shared_.reset();
    }
    return entries_;
}

// What PlanEntry holds of a pack: its number and offsets in it.
void PackPlan::check_fits() const {
    if (packs_->size() >= PlanEntry::kLoose)
        throw Error("too many packs (" + std::to_string(packs_->size()) + ") to plan a pack from");
    for (size_t p = 0; p < packs_->size(); p++)
        if ((*packs_)[p].pack_size() > PlanEntry::kMaxOffset)
            throw Error("pack too large to plan from: " + (*packs_)[p].pack_path());
}

PackPlan::~PackPlan() = default;
PackPlan::PackPlan(PackPlan &&) noexcept = default;

uint32_t PackPlan::add(const git_oid &oid) {
    PlanEntry e;
    uint32_t pos;
    uint64_t offset = 0;
    const int p = packs_->find(oid, &offset, &pos);
    e.offset = offset;
    if (p < 0) {
        if (!git_odb_exists(odb(), &oid))
            throw Error("object " + oid_hex(oid) + " is missing");
        e.pos = uint32_t(loose_.size());
        loose_.push_back(oid);
    } else {
        const PackIndex &pack = (*packs_)[size_t(p)];
        e.pack = uint16_t(p);
        e.pos = pos;
        const uint64_t end = pack.entry_end(offset);
        e.set_extent(end);
        EntryHeader h;
        if (!pack.read_entry_header(e.offset, &h) || h.length > end - offset)
            throw Error("corrupt pack entry for " + oid_hex(oid) + " in " + pack.pack_path());
        e.type = h.type;
        e.header_len = h.length;
        e.set_size(h.size);
    }
    std::vector<PlanEntry> &all = edit_entries();
    all.push_back(e);
    sent_.reset();
    return uint32_t(all.size() - 1);
}

size_t PackPlan::count() const {
    return whole_pack_ != SIZE_MAX ? (*packs_)[whole_pack_].count() : entries().size();
}

git_oid PackPlan::oid_of(const PlanEntry &e) const {
    if (e.pack == kLoose)
        return loose_[e.pos];
    git_oid oid;
    std::memcpy(oid.id, (*packs_)[e.pack].oid_at(e.pos), GIT_OID_RAWSZ);
    return oid;
}

uint64_t PackPlan::end_of(const PlanEntry &e) const {
    return e.len != PlanEntry::kLong ? e.offset + e.len : (*packs_)[e.pack].entry_end(e.offset);
}

uint64_t PackPlan::size_of(const PlanEntry &e) const {
    if (e.size != PlanEntry::kLong)
        return e.size;
    const PackIndex &pack = (*packs_)[e.pack];
    EntryHeader h;
    if (!pack.read_entry_header(e.offset, &h) || h.length > end_of(e) - e.offset)
        throw Error("corrupt pack entry for " + oid_hex(oid_of(e)) + " in " + pack.pack_path());
    return h.size;
}

git_oid PackPlan::base_oid(const PlanEntry &e) const {
    return thin_action(e.action) ? thin_bases_[e.base] : oid_of(entries()[e.base]);
}

uint32_t PackPlan::planned_base(size_t i) const {
    const PlanEntry &e = entries()[i];
    return e.action == Action::Whole || thin_action(e.action) ? kNone : e.base;
}

int64_t PackPlan::find(const git_oid &oid) {
    if (!sent_) {
        const std::vector<PlanEntry> &all = entries();
        sent_ = std::make_unique<OidSet>(all.size());
        for (const PlanEntry &e : all)
            sent_->insert(oid_of(e));
    }
    return sent_->find(oid);
}

bool PackPlan::client_has(const git_oid &oid) const {
    return options_.thin && known_.client_has(oid);
}

bool PackPlan::plan_composed(PlanEntry &e, DeltaChain &chain, const DeltaChain::Usable &usable) {
    git_oid base;
    if (!chain.follow(e.pack, e.offset, usable, &base))
        return false;
    if (const int64_t b = find(base); b >= 0) {
        e.base = uint32_t(b);
        e.action = Action::Compose;
    } else {
        e.base = uint32_t(thin_bases_.size());
        thin_bases_.push_back(base);
        e.action = Action::ComposeThin;
    }
    return true;
}

bool PackPlan::compose_to_written(PlanEntry &e, size_t i, DeltaChain &chain) {
    const int64_t here = int64_t(i);
    const DeltaChain::Usable usable = [&](const git_oid &oid) {
        const int64_t b = find(oid);
        return b >= 0 ? b < here : client_has(oid);
    };
    return plan_composed(e, chain, usable);
}

} // namespace gsh::pack
