// Our index-pack for pushed packs (git's `index-pack --stdin --fix-thin`):
// the pack read in any pieces, checked and written to a temporary file as
// it comes (pack::PackChecker, the one parser), each whole object hashed as
// it streams by; then its deltas resolved on several threads
// (push/delta_resolve.h), a thin pack completed from the repository, and
// pack-<hash>.pack, .idx (v2) and .rev written as git writes them.
//
// Memory: never the pack; per entry a PackObjectEntry; the links of the
// commits, trees and tags (walk/object_links.h, for the connectivity check
// without a second inflate); one commit, tree or tag at a time in the first
// pass (a blob is only hashed, whatever its size); and the delta resolver's
// bounded cache of bases (DeltaResolveOptions::cache_limit).
#pragma once

#include <git2.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "push/delta_resolve.h"
#include "push/pack_check.h"
#include "util/sha1.h"
#include "walk/object_links.h"

namespace gsh::pack {

struct IndexPackOptions {
    PackCheckLimits limits;
    // Threads resolving deltas; 0: std::thread::hardware_concurrency().
    unsigned threads = 0;
    // git's core.deltaBaseCacheLimit default.
    uint64_t delta_base_cache_limit = uint64_t(96) << 20;
    // Counts as they change: received_* while the pack is read; total_deltas
    // once the whole pack is read, indexed_deltas as they are resolved. Never two calls at once; any thread; about every
    // 1% or 100 ms.
    std::function<void(const git_indexer_progress &)> progress;
};

class PackIndexer : private PackEntrySink {
  public:
    // Writes into pack_dir; thin bases are read from odb.
    PackIndexer(const std::string &pack_dir, git_odb *odb, const IndexPackOptions &options = {});
    // Removes whatever files it left that finish() did not complete.
    ~PackIndexer() override;
    PackIndexer(const PackIndexer &) = delete;
    PackIndexer &operator=(const PackIndexer &) = delete;

    // The next bytes of the pack. False once refused (error() says why).
    bool feed(const void *data, size_t len);
    // The end of the pack: resolves, completes and writes the files. False
    // when the pack is refused (error()); throws gsh::Error when a file
    // cannot be written.
    bool finish();

    const std::string &error() const { return error_; }
    // "pack-<hash>", once finished.
    const std::string &name() const { return name_; }
    // Objects received (the bases a thin pack was completed with not
    // counted, as libgit2's received_objects and git's "Receiving objects").
    uint32_t objects() const { return checker_.objects(); }
    uint64_t bytes() const { return checker_.bytes(); }
    // Once finished: the pack's objects sorted by id, and their links.
    const std::vector<PackedObject> &sorted_objects() const { return sorted_; }
    const ObjectLinks &links() const { return links_; }

  private:
    std::string entry_start(const PackEntryInfo &e) override;
    std::string entry_data(const uint8_t *data, size_t len) override;
    std::string entry_end(const PackEntryInfo &e) override;
    bool refuse(std::string why);
    std::string unresolved_message() const;
    std::string complete_thin(DeltaResolver &resolver);
    bool append_base(const git_oid &oid);
    void rewrite_trailer();
    void write_files();
    void report(bool force);

    std::string dir_;
    git_odb *odb_;
    IndexPackOptions options_;
    PackChecker checker_;
    std::string tmp_pack_;
    int fd_ = -1;
    std::string error_, name_;
    std::vector<PackObjectEntry> entries_;
    std::vector<RefBase> refs_;
    uint64_t data_end_ = 0;
    uint8_t trailer_[20] = {};
    // The entry being read.
    Sha1 sha_;
    std::vector<uint8_t> content_;
    bool keep_ = false;
    ObjectLinks links_;
    std::vector<PackedObject> sorted_;
    std::vector<std::string> written_; // final files, removed unless finished
    bool done_ = false;
    // Progress.
    git_indexer_progress progress_{};
    uint64_t last_report_ms_ = 0;
    uint32_t last_report_count_ = 0;
    uint32_t deltas_ = 0;
};

} // namespace gsh::pack
