#include "push/ref_update.h"

#include "util/git_ptr.h"
#include "repo/ref_store.h"

namespace gsh {

namespace {

// receive-pack's update(): a deletion checks the old value only when it
// names an object the repository has.
RefChange change_of(const RefUpdate &u, git_odb *odb) {
    RefChange c{u.ref, u.old_id, u.new_id};
    if (git_oid_is_zero(&u.new_id) &&
        (git_oid_is_zero(&u.old_id) || !git_odb_exists(odb, &u.old_id)))
        c.old_id.reset();
    return c;
}

} // namespace

void update_refs(git_repository *repo, std::vector<RefUpdate> &updates, bool atomic,
                 const git_signature *sig, const char *message) {
    auto fail_rest = [&](const char *reason) {
        for (RefUpdate &u : updates)
            if (u.error.empty())
                u.error = reason;
    };
    if (atomic)
        for (const RefUpdate &u : updates)
            if (!u.error.empty()) {
                fail_rest("atomic push failure");
                return;
            }
    git_odb *odb_raw = nullptr;
    git_check(git_repository_odb(&odb_raw, repo), "opening the object database");
    OdbPtr odb(odb_raw);
    const FilesRefStore store(git_repository_path(repo), odb.get(), load_ref_store_config(repo));
    const std::string committer = reflog_committer(*sig);
    const std::string msg = message ? message : "";

    if (!atomic) {
        for (RefUpdate &u : updates) {
            if (!u.error.empty())
                continue;
            const RefCommitResult r = store.commit({change_of(u, odb.get())}, committer, msg);
            if (!r.error.empty() && !r.done[0]) {
                u.error = "failed to update ref";
                u.detail = r.error;
            }
        }
        return;
    }
    std::vector<RefChange> changes;
    std::vector<RefUpdate *> pending;
    for (RefUpdate &u : updates) {
        changes.push_back(change_of(u, odb.get()));
        pending.push_back(&u);
    }
    const RefCommitResult r = store.commit(changes, committer, msg);
    if (r.error.empty())
        return;
    bool told = false;
    for (size_t i = 0; i < pending.size(); i++)
        if (!r.done[i]) {
            pending[i]->error = "atomic transaction failed";
            if (!told)
                pending[i]->detail = r.error;
            told = true;
        }
}

} // namespace gsh
