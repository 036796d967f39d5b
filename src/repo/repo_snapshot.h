// What requests read of a repository and share: its upload-pack
// configuration, refs and packs as they were when read, and text derived
// from them (advertisements). Immutable once read; shared by requests on
// several threads through shared_ptr.
#pragma once

#include <git2.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "odb/pack_index.h"
#include "repo/refs.h"
#include "repo/upload_pack_config.h"
#include "util/file_stamp.h"

namespace gsh {

class RepoSnapshot {
  public:
    // Slots for memo(); the advertisement differs with the filter capability,
    // which the operator may refuse in one location and not in another.
    enum Memo {
        kAdvertisementV0,
        kAdvertisementV1,
        kAdvertisementV0Filter,
        kAdvertisementV1Filter,
        kDumbInfoRefs,  // with no hidden refs: refs() is every ref then
        kDumbInfoPacks, // the pack folder is part of current()
        kCacheStamp,    // stamp()
        kMemoSlots
    };

    // How fine file times are taken to be. A ref file replaced by one of
    // the same size that got the freed inode number of the old one looks
    // the same but for its times; within one tick of the clock the file
    // system stamps with, it looks the same in every way. So a snapshot
    // that read a ref-side file (config, HEAD, packed-refs, a loose ref)
    // stamped less than this before the read began is never current(): the
    // next request reads the refs again ("racy git", as git's index has
    // it). Linux stamps with its coarse clock, a tick of at most 10 ms; a
    // time without a fraction of a second is taken to come from a file
    // system that keeps whole seconds, and is given kRacyCoarseNs instead.
    static constexpr int64_t kRacyWindowNs = 20'000'000;
    static constexpr int64_t kRacyCoarseNs = 2'000'000'000;

    // Reads path's configuration, refs and packs through repo, a handle of
    // the caller's that nothing else uses meanwhile. The packs of previous
    // (an older snapshot of the same repository) are kept when its pack
    // folders did not change. A racy window of 0 trusts every time from the
    // past. Throws gsh::Error.
    static std::shared_ptr<const RepoSnapshot> read(const std::string &path, git_repository *repo,
                                                    const RepoSnapshot *previous = nullptr,
                                                    int64_t racy_window_ns = kRacyWindowNs);

    // Whether the repository on disk is still what this snapshot says
    // (config, HEAD, packed-refs, loose refs, pack folders, alternates): a
    // few stat() and readdir() calls; false for a racy snapshot.
    bool current() const;
    // The same, but a racy snapshot counts as current unless a stamp moved:
    // for what only must not go back to an older state (a published base).
    bool unchanged() const;

    const std::string &path() const { return path_; }
    // Without the operator's per-request limits.
    const UploadPackConfig &config() const { return config_; }
    // HEAD first, then every visible ref in name order, annotated tags peeled.
    const std::vector<Ref> &refs() const { return refs_; }
    // The visible ref of that exact name (HEAD included), or null.
    const Ref *find_ref(std::string_view name) const;
    // Every ref tip, hidden ones flagged.
    const std::vector<Tip> &tips() const { return tips_; }
    const std::shared_ptr<const pack::PackSet> &packs() const { return packs_; }

    // 20 bytes that change when what a fetch of this repository can answer
    // changes: the visible refs as read (names, ids, symrefs, peeled tags),
    // every tip, the files of the pack folders by name (a pack's name is
    // its checksum), and the config file's stamp. Refs by content, not file
    // times, so that a ref rewritten within one tick of the clock still
    // changes it. For the module's pack cache, which keeps answers per
    // stamp.
    const std::string &stamp() const;

    // Text derived from the snapshot alone: made by the first caller's make
    // and kept for the others.
    const std::string &memo(Memo slot, const std::function<std::string()> &make) const;

    // What the snapshot holds in memory, estimated for RepoCache's bound:
    // its refs, stamps and memo() text, its packs' tables as they are once
    // fully built by use (each pack's orders by offset, the bitmap with
    // every bitmapped commit decoded), an upper bound for those, and the
    // loose objects its packs' cache and the plans its packs' memo hold now.
    size_t memory_bytes() const {
        return fixed_bytes_ + packs_bytes_ + packs_->object_cache().bytes() + packs_->memo_bytes() +
               memo_bytes_.load(std::memory_order_relaxed);
    }

  private:
    struct RefStamps {
        FileStamp config, head, packed_refs;
        FolderStamp loose;
        static RefStamps of(const std::string &path);
        // Whether a file was stamped within the racy window before began.
        bool racy(int64_t began, int64_t window) const;
        bool operator==(const RefStamps &) const = default;
    };
    struct PackStamps {
        std::vector<std::string> folders; // object folders
        std::vector<FolderStamp> packs;   // their pack folders
        std::vector<FileStamp> alternates;
        static PackStamps of(std::vector<std::string> folders);
        bool operator==(const PackStamps &) const = default;
    };

    RepoSnapshot() = default;

    std::string path_;
    RefStamps ref_stamps_;
    bool racy_ = false;
    PackStamps pack_stamps_;
    UploadPackConfig config_;
    std::vector<Ref> refs_;
    std::vector<Tip> tips_;
    std::shared_ptr<const pack::PackSet> packs_;
    mutable std::array<std::once_flag, kMemoSlots> memo_once_;
    mutable std::array<std::string, kMemoSlots> memo_;
    size_t fixed_bytes_ = 0;
    size_t packs_bytes_ = 0; // shared with the snapshots that share packs_
    mutable std::atomic<size_t> memo_bytes_{0};
};

} // namespace gsh
