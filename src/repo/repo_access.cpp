#include "repo/repo_access.h"

namespace gsh {

RepoAccess::RepoAccess(RepoCache &cache, const std::string &path)
    : cache_(&cache), snapshot_(cache.get(path)), config_(snapshot_->config()) {}

RepoAccess::RepoAccess(RepoCache &cache, std::shared_ptr<const RepoSnapshot> snapshot)
    : cache_(&cache), snapshot_(std::move(snapshot)), config_(snapshot_->config()) {}

RepoAccess::RepoAccess(const std::string &path) : repo_(open_repository(path)) {
    snapshot_ = RepoSnapshot::read(path, repo_.get());
    config_ = snapshot_->config();
}

RepoAccess::~RepoAccess() {
    if (cache_ && repo_)
        cache_->give_back(*snapshot_, std::move(repo_));
}

git_repository *RepoAccess::git() {
    if (!repo_)
        repo_ = cache_->lend(snapshot_->path());
    return repo_.get();
}

} // namespace gsh
