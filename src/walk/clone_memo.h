// The count of the most common request, a clone (no haves, no filter, not
// shallow), kept for the pack set it was made on: a repeat clone of the
// same refs does no counting. A pack set is made again whenever the
// repository's packs change, and a push that moves a ref changes the wants:
// an entry is found only while its answer is still the right one.
#pragma once

#include <git2.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "walk/enumerate.h"

namespace gsh::pack {

class CloneMemo {
  public:
    // entries: how many counts are kept; max_bytes: what they may hold
    // together (the least recently used goes first).
    CloneMemo(size_t entries, size_t max_bytes);

    // The process's memo.
    static CloneMemo &process();

    // Whether in is a request whose count is kept.
    static bool applies(const EnumerateInput &in);

    // The count kept for in on packs, as a copy for repo (the request's
    // handle); nullopt when there is none.
    std::optional<Enumeration> find(const std::shared_ptr<const PackSet> &packs,
                                    const EnumerateInput &in, git_repository *repo);
    // Keeps a copy of out, the count of in on packs.
    void keep(const std::shared_ptr<const PackSet> &packs, const EnumerateInput &in,
              const Enumeration &out);

    uint64_t hits() const;
    size_t size() const;

  private:
    struct Entry {
        std::weak_ptr<const PackSet> packs;
        const PackSet *key_packs = nullptr;
        std::vector<git_oid> wants, include_tags; // sorted, unique
        std::unique_ptr<Enumeration> count;
        size_t bytes = 0;
        uint64_t used = 0;
    };
    static std::vector<git_oid> sorted(const std::vector<git_oid> &oids);
    Entry *find_locked(const PackSet *packs, const std::vector<git_oid> &wants,
                       const std::vector<git_oid> &tags);

    const size_t capacity_, max_bytes_;
    mutable std::mutex mutex_;
    std::vector<Entry> entries_;
    size_t bytes_ = 0; // of the entries kept
    uint64_t clock_ = 0, hits_ = 0;
};

} // namespace gsh::pack
