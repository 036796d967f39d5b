#include "repo/commits.h"

#include "util/git_ptr.h"

namespace gsh {

const CommitInfo *CommitCache::get(const git_oid &id) {
    auto it = cache_.find(id);
    if (it != cache_.end())
        return &it->second;
    CommitInfo info;
    uint32_t pos;
    git_oid tree;
    int64_t date;
    if (graph_ && graph_->find(id, &pos) && graph_->commit(pos, &tree, &info.parents, &date)) {
        info.time = date;
        return &cache_.emplace(id, std::move(info)).first->second;
    }
    git_commit *raw = nullptr;
    if (git_commit_lookup(&raw, repo_, &id) != 0)
        return nullptr;
    CommitPtr c(raw);
    info.parents.clear();
    info.time = git_commit_time(c.get());
    for (unsigned i = 0; i < git_commit_parentcount(c.get()); i++)
        info.parents.push_back(*git_commit_parent_id(c.get(), i));
    return &cache_.emplace(id, std::move(info)).first->second;
}

std::optional<git_oid> peel_to_commit(git_repository *repo, const git_oid &id) {
    git_object *raw = nullptr;
    if (git_object_lookup(&raw, repo, &id, GIT_OBJECT_ANY) != 0)
        return std::nullopt;
    ObjectPtr obj(raw);
    if (git_object_type(obj.get()) == GIT_OBJECT_COMMIT)
        return id;
    git_object *peeled_raw = nullptr;
    if (git_object_type(obj.get()) != GIT_OBJECT_TAG ||
        git_object_peel(&peeled_raw, obj.get(), GIT_OBJECT_COMMIT) != 0)
        return std::nullopt;
    ObjectPtr peeled(peeled_raw);
    return *git_object_id(peeled.get());
}

} // namespace gsh
