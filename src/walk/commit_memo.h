// Commits parsed by the walks of a repository's requests, kept with its
// packs (PackSet::memo()): every fetch walks the commits that no bitmap or
// commit-graph covers (those pushed since the last repack), and inflating
// them again and again was a third of a fetch of the nginx history. A
// commit-graph, where there is one, answers first (ObjectParser).
//
// A commit's tree, parents and date follow from its id alone, so an entry
// is never stale; the memo lives as long as the packs it was read from,
// and its bytes count in the repository cache's bound. Past kMaxCommits it
// keeps no more (a push or a repack makes a new PackSet, and a new memo).
#pragma once

#include <git2.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <shared_mutex>
#include <vector>

#include "odb/pack_index.h"
#include "util/oid_set.h"

namespace gsh::pack {

class CommitMemo : public PackSet::Memo {
  public:
    static constexpr size_t kMemoSlot = PackSet::kCommitMemo;
    static constexpr size_t kMaxCommits = 16384;

    // Tree and parents (and the date, when date is not null and was kept)
    // of a commit kept; false when it is not kept.
    bool find(const git_oid &oid, git_oid *tree, std::vector<git_oid> *parents,
              int64_t *date) const;
    // Keeps what a parse found; date null: not read.
    void keep(const git_oid &oid, const git_oid &tree, const std::vector<git_oid> &parents,
              const int64_t *date);
    size_t bytes() const override;
    uint64_t hits() const { return hits_.load(std::memory_order_relaxed); }

  private:
    struct Commit {
        git_oid tree;
        int64_t date;
        uint32_t first_parent, parents;
        bool dated;
    };
    mutable std::shared_mutex mutex_;
    OidSet ids_; // index i: commits_[i]
    std::vector<Commit> commits_;
    std::vector<git_oid> parents_;
    mutable std::atomic<uint64_t> hits_{0};
};

} // namespace gsh::pack
