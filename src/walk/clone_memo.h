// The count of the most common requests, clones (no haves, not shallow;
// whole, or partial by a filter of the objects' content), kept per
// repository: a repeat clone of the same refs does no counting. The objects
// a clone sends follow from its wants and filter alone; how a
// count names them depends only on the bitmap's order it ranks them in. So
// an entry is keyed by the repository's object folder, that order's
// checksum (none without a bitmap), the filter and the exact wants: it stays right
// across re-reads of unchanged packs (the repository cache may let them go
// between clones) and pushes that leave the bitmap alone, and a repack that
// writes another bitmap or a push that moves a ref is not found.
#pragma once

#include <git2.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
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
    // handle) that reads packs; nullopt when there is none.
    std::optional<Enumeration> find(const std::shared_ptr<const PackSet> &packs,
                                    const EnumerateInput &in, git_repository *repo);
    // Keeps a copy of out, the count of in on packs.
    void keep(const std::shared_ptr<const PackSet> &packs, const EnumerateInput &in,
              const Enumeration &out);

    uint64_t hits() const;
    size_t size() const;

  private:
    using Id = std::array<uint8_t, GIT_OID_RAWSZ>;
    // Which repository and order an entry is for, and a digest of its wants
    // that needs no sort and ignores their order and repeats (the least and
    // greatest, which first bytes occur): only a request that matches it
    // has its wants sorted and compared.
    struct Key {
        std::string folder;
        Id order{}; // zeros without a bitmap
        ObjectFilter filter;
        Id least{}, greatest{};
        uint64_t wants_seen = 0, tags_seen = 0;
        static Key of(const PackSet &packs, const EnumerateInput &in);
        bool operator==(const Key &) const = default;
    };
    struct Entry {
        Key key;
        std::vector<git_oid> wants, include_tags; // sorted, unique
        std::unique_ptr<Enumeration> count;
        size_t bytes = 0;
        uint64_t used = 0;
    };
    static std::vector<git_oid> sorted(const std::vector<git_oid> &oids);
    bool has_key_locked(const Key &key) const;
    Entry *find_locked(const Key &key, const std::vector<git_oid> &wants,
                       const std::vector<git_oid> &tags);

    const size_t capacity_, max_bytes_;
    mutable std::mutex mutex_;
    std::vector<Entry> entries_;
    size_t bytes_ = 0; // of the entries kept
    uint64_t clock_ = 0, hits_ = 0;
};

} // namespace gsh::pack
