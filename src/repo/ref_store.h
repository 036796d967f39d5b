// The writing side of git's "files" ref store, on git 2.39's on-disk
// protocol (refs/files-backend.c, refs/packed-backend.c, lockfile.c), so that
// the module, git itself (gc, pack-refs, update-ref, receive-pack), other
// workers and other hosts sharing the directory never lose one another's
// updates:
//
// - each ref is locked by creating <ref>.lock with O_CREAT|O_EXCL (retried
//   for core.filesRefLockTimeout), and its value is read under that lock:
//   the loose file, else packed-refs read afresh;
// - a new value is written into the lock, which is renamed over the ref;
// - a deletion also takes packed-refs.lock (retried for
//   core.packedRefsTimeout), re-reads packed-refs under it, writes the file
//   without the ref to packed-refs.new, renames that into place, and only
//   then removes the loose file, releasing packed-refs.lock last;
// - reflogs are appended where git appends them, and removed with the ref.
//
// Nothing here keeps state between transactions: every read is of the files
// as they are. libgit2 may read the same refs; it must not write them.
#pragma once

#include <git2.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gsh {

// The settings git's ref store reads from the repository's config.
struct RefStoreConfig {
    long loose_lock_timeout_ms = 100;   // core.filesRefLockTimeout
    long packed_lock_timeout_ms = 1000; // core.packedRefsTimeout
    // core.logAllRefUpdates; unset, git uses None in a bare repository
    // (core.bare not false) and Normal otherwise.
    enum class Reflogs { None, Normal, Always } reflogs = Reflogs::None;
    bool fsync = false; // core.fsync names "reference" (git's default does not)
};

// Throws gsh::Error when the config cannot be read.
RefStoreConfig load_ref_store_config(git_repository *repo);

// Whether core.fsync set to value names component ("reference",
// "loose-object", ...: a name of git's list) after git's default.
bool fsync_component(const std::string &value, std::string_view component);

struct RefChange {
    std::string name;
    std::optional<git_oid> old_id; // none: not checked; zero: the ref must not exist
    git_oid new_id{};              // zero: delete the ref
};

struct RefCommitResult {
    // Empty when every change was made; else the message git's
    // ref_transaction_commit() gives (printed as "error: <it>").
    std::string error;
    // For each change, whether it took effect. All false when the
    // transaction failed before anything moved (the usual failure: a lock,
    // a stale old value); a failure while committing (a full disk) may leave
    // the earlier changes made, as it does in git.
    std::vector<bool> done;
};

class FilesRefStore {
  public:
    // git_dir: the repository's directory. odb: where the objects a ref is
    // set to are looked up (git refuses a missing object, and a non-commit
    // on a branch), and the tags packed-refs must peel are read.
    FilesRefStore(std::string git_dir, git_odb *odb, RefStoreConfig config);

    // One transaction, as git's ref_transaction_commit() runs it: every ref
    // is locked and checked, and new values are written into the locks
    // (with packed-refs locked and rewritten aside when something is
    // deleted) before any ref moves; when one fails nothing moves and every
    // lock taken is released. An update of the branch HEAD names is logged
    // in HEAD's reflog too, under HEAD.lock. A symbolic ref is not followed:
    // changing one fails. committer: "Name <email> <time> <tz>" for the
    // reflogs; message: their message.
    RefCommitResult commit(const std::vector<RefChange> &changes, const std::string &committer,
                           const std::string &message) const;

  private:
    std::string dir_;
    git_odb *odb_;
    RefStoreConfig config_;
};

// "Name <email> <seconds> <+hhmm>", the identity of a reflog line.
std::string reflog_committer(const git_signature &sig);

} // namespace gsh
