// One request's access to a repository: the snapshot it shares with other
// requests (configuration, refs, packs), with the operator's limits, and a
// libgit2 handle of its own for what needs libgit2 (negotiation, objects),
// taken on first use and given back when the request ends.
#pragma once

#include <git2.h>

#include <cstddef>
#include <memory>
#include <string>
#include <utility>

#include "repo/repo_cache.h"
#include "repo/repo_snapshot.h"
#include "util/git_ptr.h"

namespace gsh {

class RepoAccess {
  public:
    // The repository at path as cache has it.
    RepoAccess(RepoCache &cache, const std::string &path);
    // A snapshot cache gave.
    RepoAccess(RepoCache &cache, std::shared_ptr<const RepoSnapshot> snapshot);
    // Read now, with no cache (tests, tools).
    explicit RepoAccess(const std::string &path);
    ~RepoAccess();
    RepoAccess(const RepoAccess &) = delete;
    RepoAccess &operator=(const RepoAccess &) = delete;

    const RepoSnapshot &snapshot() const { return *snapshot_; }
    // The snapshot's, with the limits set here.
    const UploadPackConfig &config() const { return config_; }
    void set_limits(size_t max_wants, size_t max_haves) {
        config_.max_wants = max_wants;
        config_.max_haves = max_haves;
    }
    // git_smart_http_filter: off refuses filters whatever the repository says.
    void set_filter_directive(bool on) { config_.allow_filter = config_.allow_filter && on; }
    void set_publish(PublishConfig publish) { config_.publish = std::move(publish); }
    // What went wrong that the request survives (a publish that failed),
    // for the error log.
    std::string warning;
    // This request's handle; the same one for every call.
    git_repository *git();

  private:
    RepoCache *cache_ = nullptr;
    std::shared_ptr<const RepoSnapshot> snapshot_;
    UploadPackConfig config_;
    RepoPtr repo_;
};

} // namespace gsh
