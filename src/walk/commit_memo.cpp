#include "walk/commit_memo.h"

#include <mutex>

namespace gsh::pack {

bool CommitMemo::find(const git_oid &oid, git_oid *tree, std::vector<git_oid> *parents,
                      int64_t *date) const {
    std::shared_lock<std::shared_mutex> lock(mutex_);
    const int64_t i = ids_.find(oid);
    if (i < 0)
        return false;
    const Commit &c = commits_[size_t(i)];
    if (date && !c.dated)
        return false;
    *tree = c.tree;
    parents->assign(parents_.begin() + c.first_parent,
                    parents_.begin() + c.first_parent + c.parents);
    if (date)
        *date = c.date;
    hits_.fetch_add(1, std::memory_order_relaxed);
    return true;
}

void CommitMemo::keep(const git_oid &oid, const git_oid &tree, const std::vector<git_oid> &parents,
                      const int64_t *date) {
    {
        // Full: every miss after would otherwise queue for the lock.
        std::shared_lock<std::shared_mutex> lock(mutex_);
        if (commits_.size() >= kMaxCommits)
            return;
    }
    std::unique_lock<std::shared_mutex> lock(mutex_);
    if (commits_.size() >= kMaxCommits || parents_.size() + parents.size() > UINT32_MAX)
        return;
    const auto [i, added] = ids_.insert(oid);
    if (!added) {
        Commit &c = commits_[i];
        if (date && !c.dated) {
            c.date = *date;
            c.dated = true;
        }
        return;
    }
    commits_.push_back({tree, date ? *date : 0, uint32_t(parents_.size()), uint32_t(parents.size()),
                        date != nullptr});
    parents_.insert(parents_.end(), parents.begin(), parents.end());
}

size_t CommitMemo::bytes() const {
    std::shared_lock<std::shared_mutex> lock(mutex_);
    // The set's slots (about two per id) and ids, the records, the parents.
    return ids_.size() * (3 * sizeof(git_oid) + sizeof(Commit)) + parents_.size() * sizeof(git_oid);
}

} // namespace gsh::pack
