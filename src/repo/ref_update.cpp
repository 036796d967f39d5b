#include "repo/ref_update.h"

#include <git2/sys/repository.h>

#include "repo/git_ptr.h"

namespace gsh {

namespace {

using TransactionPtr = GitPtr<git_transaction, git_transaction_free>;

std::string last_git_error() {
    const git_error *e = git_error_last();
    return e && e->message ? e->message : "libgit2 error";
}

std::string hex(const git_oid &oid) {
    char buf[GIT_OID_HEXSZ + 1];
    git_oid_tostr(buf, sizeof(buf), &oid);
    return buf;
}

const char *failure_reason(const RefUpdate &u) {
    return git_oid_is_zero(&u.new_id) ? "failed to delete" : "failed to update ref";
}

void fail(RefUpdate &u, const std::string &detail) {
    u.error = failure_reason(u);
    u.detail = "cannot lock ref '" + u.ref + "': " + detail;
}

// Locks u.ref in tx, checks its value against u.old_id under the lock, and
// stages the change. false (with u.error set) when it cannot.
bool stage(git_transaction *tx, git_repository *repo, RefUpdate &u, const git_signature *sig,
           const char *message) {
    if (git_transaction_lock_ref(tx, u.ref.c_str()) < 0) {
        fail(u, last_git_error());
        return false;
    }
    git_reference *raw = nullptr;
    const int rc = git_reference_lookup(&raw, repo, u.ref.c_str());
    RefPtr current(raw);
    if (rc < 0 && rc != GIT_ENOTFOUND) {
        fail(u, last_git_error());
        return false;
    }
    if (current && git_reference_type(current.get()) != GIT_REFERENCE_DIRECT) {
        fail(u, "is a symbolic ref, which a push does not update here");
        return false;
    }
    const bool deleting = git_oid_is_zero(&u.new_id);
    if (git_oid_is_zero(&u.old_id)) {
        // A delete with no old value is git's "delete whatever is there".
        if (current && !deleting) {
            fail(u, "reference already exists");
            return false;
        }
    } else if (!current) {
        fail(u, "unable to resolve reference '" + u.ref + "'");
        return false;
    } else if (!git_oid_equal(git_reference_target(current.get()), &u.old_id)) {
        fail(u, "is at " + hex(*git_reference_target(current.get())) + " but expected " +
                    hex(u.old_id));
        return false;
    }
    int set = 0;
    if (deleting) {
        if (current)
            set = git_transaction_remove(tx, u.ref.c_str());
    } else {
        set = git_transaction_set_target(tx, u.ref.c_str(), &u.new_id, sig, message);
    }
    if (set < 0) {
        fail(u, last_git_error());
        return false;
    }
    return true;
}

// libgit2 drops a deleted ref from its packed-refs cache before it takes
// packed-refs.lock, and keeps it dropped when that fails: the next packed-refs
// it writes through this handle would leave the ref out. Fresh refs then.
void reload_refs(git_repository *repo) {
    git_refdb *db = nullptr;
    if (git_refdb_open(&db, repo) == 0) {
        git_repository_set_refdb(repo, db);
        git_refdb_free(db);
    }
    git_error_clear();
}

// Whether u's ref now is what u asked for. libgit2 commits a transaction's
// refs one at a time, so a failed commit may have moved some of them (a
// deletion rewrites packed-refs only then, and fails when another process
// holds its lock): the report must say what happened to each.
bool landed(git_repository *repo, const RefUpdate &u) {
    git_reference *raw = nullptr;
    const int rc = git_reference_lookup(&raw, repo, u.ref.c_str());
    RefPtr current(raw);
    if (git_oid_is_zero(&u.new_id))
        return rc == GIT_ENOTFOUND;
    return rc == 0 && git_reference_type(current.get()) == GIT_REFERENCE_DIRECT &&
           git_oid_equal(git_reference_target(current.get()), &u.new_id);
}

// git removes a deleted ref's reflog with it; libgit2's transactions leave it,
// and a stale logs/refs/heads/x then stops refs/heads/x/y from being made.
void after_commit(git_repository *repo, const RefUpdate &u) {
    if (git_oid_is_zero(&u.new_id) && git_reflog_delete(repo, u.ref.c_str()) < 0)
        git_error_clear();
}

} // namespace

void update_refs(git_repository *repo, std::vector<RefUpdate> &updates, bool atomic,
                 const git_signature *sig, const char *message) {
    if (!atomic) {
        for (RefUpdate &u : updates) {
            if (!u.error.empty())
                continue;
            git_transaction *raw = nullptr;
            if (git_transaction_new(&raw, repo) < 0) {
                fail(u, last_git_error());
                continue;
            }
            TransactionPtr tx(raw);
            if (!stage(tx.get(), repo, u, sig, message))
                continue;
            if (git_transaction_commit(tx.get()) < 0) {
                const std::string why = last_git_error();
                reload_refs(repo);
                if (!landed(repo, u)) {
                    u.error = failure_reason(u);
                    u.detail = why;
                    continue;
                }
            }
            after_commit(repo, u);
        }
        return;
    }
    auto fail_rest = [&](const char *reason) {
        for (RefUpdate &u : updates)
            if (u.error.empty())
                u.error = reason;
    };
    for (const RefUpdate &u : updates)
        if (!u.error.empty()) {
            fail_rest("atomic push failure");
            return;
        }
    git_transaction *raw = nullptr;
    if (git_transaction_new(&raw, repo) < 0) {
        const std::string why = last_git_error();
        fail_rest("atomic transaction failed");
        if (!updates.empty())
            updates.front().detail = why;
        return;
    }
    TransactionPtr tx(raw);
    for (RefUpdate &u : updates)
        if (!stage(tx.get(), repo, u, sig, message)) {
            fail_rest("atomic push failure");
            return; // freeing tx releases every lock taken
        }
    if (git_transaction_commit(tx.get()) < 0) {
        const std::string why = last_git_error();
        reload_refs(repo);
        for (RefUpdate &u : updates)
            if (!landed(repo, u)) {
                u.error = "atomic transaction failed";
                u.detail = why;
            }
    }
    for (const RefUpdate &u : updates)
        if (u.error.empty())
            after_commit(repo, u);
}

} // namespace gsh
