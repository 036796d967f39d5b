// Planning a pack (git's prepare_pack): which entries it holds, in what
// order, and how each is written: copied from a pack on disk, rewritten as
// another kind of delta, composed down its chain, made a delta against
// another version at its path, or deflated whole. pack_writer.h emits the
// bytes of a plan.
#pragma once

#include <git2.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "odb/delta_chain.h"
#include "odb/pack_index.h"
#include "util/git_ptr.h"
#include "util/oid_set.h"
#include "walk/enumerate.h"

namespace gsh::pack {

// How the pack may be written: what the client said it can read.
struct PackOptions {
    // OFS_DELTA entries (ofs-delta); without it every delta is a REF_DELTA.
    bool ofs_delta = false;
    // A thin pack (thin-pack): a delta whose base the client is known to
    // have is sent as a REF_DELTA against that base, which is not sent.
    bool thin = false;
};

// Deltas are made (Encode) only for objects and bases of this size: larger
// ones are bounded work spent elsewhere, and for smaller ones a delta would
// save a few bytes. The plan looks for bases by path only for such objects.
inline constexpr size_t kMaxEncode = size_t(16) << 20;
inline constexpr size_t kMinEncode = 64;

// How an entry is written (the table at the top of pack_plan.cpp).
enum class Action : uint8_t {
    Copy,
    Ofs,
    ToRef,
    Thin,
    Compose,
    ComposeThin,
    Encode,
    EncodeThin,
    Whole
};

inline bool thin_action(Action a) {
    return a == Action::Thin || a == Action::ComposeThin || a == Action::EncodeThin;
}

// 32 bytes an object, as the plan of a clone holds one for each: a packed
// entry's oid is read from its pack index, and lengths and sizes of 4 GiB or
// more, which no real entry has but any may claim, are read again from the
// pack (PackPlan::end_of, size_of). Offsets in 48 bits: a pack of 256 TiB is
// refused.
struct PlanEntry {
    static constexpr uint16_t kLoose = UINT16_MAX; // pack of an object in no pack
    static constexpr uint32_t kNone = UINT32_MAX;  // base of an entry that has none
    static constexpr uint32_t kLong = UINT32_MAX;  // len or size: read it again
    static constexpr uint64_t kMaxOffset = (uint64_t(1) << 48) - 1;

    uint64_t offset : 48 = 0; // in the pack on disk
    uint64_t pack : 16 = kLoose;
    uint64_t type : 3 = 0;       // on disk
    uint64_t header_len : 6 = 0; // at most 30
    Action action : 4 = Action::Whole;
    // Encode, EncodeThin: composing along the chain on disk is the fallback
    // when no delta is kept (a base was found down the chain).
    bool composable : 1 = false;
    uint32_t len = 0;  // on disk, header included (0: not read yet), or kLong
    uint32_t size = 0; // from the entry header, or kLong
    uint32_t pos = 0;  // in the pack index; for a loose object, in loose()
    // The entry this one is a delta against; Thin, ComposeThin, EncodeThin:
    // in thin_bases().
    uint32_t base = kNone;

    void set_extent(uint64_t end) { len = end - offset >= kLong ? kLong : uint32_t(end - offset); }
    void set_size(uint64_t s) { size = s >= kLong ? kLong : uint32_t(s); }
};
static_assert(sizeof(PlanEntry) == 32);

class PackPlan {
  public:
    // Plans the pack of objects; client_has of objects names the bases a
    // thin pack may leave out. checkpoint, when set, is called between the
    // steps and may throw to stop it. Throws gsh::Error (a missing object).
    PackPlan(git_repository *repo, Enumeration objects, PackOptions options,
             const std::function<void()> &checkpoint = {});
    // An empty plan that the caller fills with add() and by setting entries'
    // actions and bases: a hand-made plan, for tests.
    PackPlan(git_repository *repo, PackOptions options);
    ~PackPlan();
    PackPlan(PackPlan &&) noexcept;
    PackPlan(const PackPlan &) = delete;
    PackPlan &operator=(const PackPlan &) = delete;

    // Appends oid as an entry written whole, its pack position and header
    // read from disk, and returns its index.
    uint32_t add(const git_oid &oid);

    git_repository *repo() const { return repo_; }
    git_odb *odb() const { return odb_.get(); }
    const PackSet &packs() const { return *packs_; }
    const PackOptions &options() const { return options_; }
    // Whether the client has objects already (a fetch, not a clone).
    bool client_has_any() const { return known_.client_has_any(); }

    // In the order they are written: every entry's planned base before it.
    // A plan kept for repeat clones (plan_memo.h) is shared by the clones
    // that find it, and the writer never changes an entry.
    const std::vector<PlanEntry> &entries() const { return shared_ ? *shared_ : entries_; }
    // The entries to change, for a hand-made plan: a shared plan is copied
    // first.
    std::vector<PlanEntry> &edit_entries();
    const std::vector<git_oid> &loose() const { return loose_; }
    const std::vector<git_oid> &thin_bases() const { return thin_bases_; }
    // How many objects the pack holds.
    size_t count() const;
    git_oid oid_of(const PlanEntry &e) const;
    // Where packed entry e ends in its pack, and the size its header gives.
    uint64_t end_of(const PlanEntry &e) const;
    uint64_t size_of(const PlanEntry &e) const;
    // The oid e is planned as a delta against (e has a base).
    git_oid base_oid(const PlanEntry &e) const;
    // The entry that entries()[i] is planned as a delta against, or kNone (a
    // whole object, or a delta against a base the client has).
    uint32_t planned_base(size_t i) const;

    // A pack file whose entries are the pack as it is, one copy of its
    // bytes between header and trailer with no entry listed; SIZE_MAX
    // otherwise.
    size_t whole_pack() const { return whole_pack_; }
    // The pack produced is this pack file byte for byte (whole_pack()
    // included), so its checksum is known; SIZE_MAX otherwise.
    size_t whole_file() const { return whole_file_; }

    // The entry for oid, or -1.
    int64_t find(const git_oid &oid);
    // Whether a thin pack may name oid as a base the client has.
    bool client_has(const git_oid &oid) const;

    // Replans e (a delta on disk) as composed down its chain to the first
    // base usable says may be named: an entry sent (Compose) or one the
    // client has (ComposeThin). False, with e unchanged, when there is none.
    bool plan_composed(PlanEntry &e, DeltaChain &chain, const DeltaChain::Usable &usable);
    // The writer's fallback for e, a copy of entries()[i], when its encoded
    // delta was not kept: composed down its chain to an entry before it or
    // a base the client has.
    bool compose_to_written(PlanEntry &e, size_t i, DeltaChain &chain);

  private:
    friend class Planner;
    void check_fits() const;

    git_repository *repo_;
    OdbPtr odb_;
    std::shared_ptr<const PackSet> packs_;
    PackOptions options_;
    Enumeration known_;              // its client_has(); the objects were moved out
    std::vector<PlanEntry> entries_; // while planned, or
    std::shared_ptr<const std::vector<PlanEntry>> shared_; // once kept
    std::vector<git_oid> loose_;                           // objects in no pack
    std::vector<git_oid> thin_bases_;
    std::unique_ptr<OidSet> sent_; // oid -> entry index, made on first need
    size_t whole_pack_ = SIZE_MAX;
    size_t whole_file_ = SIZE_MAX;
    bool keepable_ = true; // may be kept for a repeat clone (plan_memo.h)
};

} // namespace gsh::pack
