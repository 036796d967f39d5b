// Where a pushed pack waits until the push is accepted, as git's receive-pack
// keeps it: a directory objects/incoming-h<host>-<pid>-XXXXXX of the
// repository, with a pack/ directory the pack is indexed into. Nothing in it
// is visible to the repository until migrate() moves the pack into
// objects/pack; a quarantine that is not migrated is removed with everything
// in it.
//
// A worker killed in the middle of a push leaves its quarantine behind; the
// next push cleans up. A pid says whether a process lives only to processes
// of the same kernel boot and pid namespace, and one repository directory
// may be served by several hosts (NFS, a shared volume) or containers. So
// the name carries <host>, this process's pid space (quarantine_host_id()),
// and a quarantine is removed when:
//   - its <host> is ours and its pid is gone (kill(pid, 0): ESRCH), or
//   - nothing in it has been modified for kQuarantineGrace, whoever made it
//     (a pid alive here too: a killed worker's pid may since have gone to
//     another long-lived process).
// A name of the older layout, incoming-<pid>-XXXXXX, has no host: it is
// taken as foreign (the grace period alone). git's own incoming-XXXXXX are
// git's and never touched.
#pragma once

#include <git2.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "odb/loose_writer.h"
#include "push/pack_check.h"

namespace gsh {

// How long a quarantine may go unmodified before any host may take it for
// abandoned. A live push writes its pack as it reads it and spends seconds to
// minutes in hooks and checks; a day leaves room for clock skew between
// hosts and for slow hooks, and a dead host's leftovers are gone the next
// day.
inline constexpr std::chrono::hours kQuarantineGrace{24};

// "h" and 16 hex digits naming this process's pid space: a hash of the
// kernel's boot id (/proc/sys/kernel/random/boot_id: a new one for each boot
// of each host, shared by the containers on it, unlike a hostname or
// /etc/machine-id, which clones and containers often share) and of the pid
// namespace (the st_dev/st_ino of /proc/self/ns/pid). Without /proc it is
// random for the process, so that no other process ever takes its
// quarantines for its own.
const std::string &quarantine_host_id();

// Removes the quarantines under objects_dir that the rules above say are
// abandoned: what a worker killed in the middle of a push left.
void remove_stale_quarantines(const std::string &objects_dir);

class Quarantine {
  public:
    // Creates objects/incoming-h<host>-<pid>-XXXXXX/pack under git_dir, after
    // removing stale quarantines. Throws gsh::Error(500) when it cannot.
    explicit Quarantine(const std::string &git_dir);
    ~Quarantine();
    Quarantine(const Quarantine &) = delete;
    Quarantine &operator=(const Quarantine &) = delete;

    // The quarantine's object directory (GIT_QUARANTINE_PATH in hooks).
    const std::string &path() const { return dir_; }

    // Indexes the pack that read() yields (it returns 0 at the end) with
    // pack::PackIndexer (push/index_pack.h), every byte checked with limits
    // (sizes, zlib streams, trailer, deltas): a pack it refuses returns
    // "index-pack abnormal exit", as git's receive-pack says, and fatal()
    // says why in git's index-pack words. A thin pack is completed from odb;
    // then every object the pack's commits, trees and tags name must be in
    // the pack or in odb, of the type the link wants (walk/connectivity.h):
    // when one is not, index() still succeeds, as git's index-pack does, and
    // missing() holds what git's connectivity check prints (has_refs: the
    // repository has refs, which change git's words; see check_connectivity).
    // progress, when given, gets the indexer's counts as they change (the
    // deltas are resolved in the end, after the whole pack is read), from
    // any thread, never two calls at once.
    // max_bytes bounds the pack's size (the body's): a header that claims
    // more objects than that many bytes can hold is refused at once.
    // Returns "" on success, else what went wrong (the "unpack" status).
    std::string index(git_odb *odb, const std::function<size_t(void *, size_t)> &read,
                      size_t max_bytes, const pack::PackCheckLimits &limits = {},
                      bool has_refs = false,
                      const std::function<void(const git_indexer_progress &)> &progress = {});
    const std::string &fatal() const { return fatal_; }
    const std::string &missing() const { return missing_; }
    unsigned long long objects() const { return objects_; }
    unsigned long long bytes() const { return bytes_; }
    // The object count of the pack's header, as sent (before a thin pack is
    // completed): what git's receive-pack compares with receive.unpackLimit.
    uint32_t header_objects() const { return header_objects_; }

    // receive.fsckObjects: `git index-pack --strict<msg_types>` over the
    // indexed pack (git's checks of every object and of what they name, with
    // the severities and skiplist of msg_types, as receive-pack passes them:
    // ReceivePackConfig::fsck_msg_types), its index written to a scratch file in
    // the quarantine. Runs git only when the pack has objects. Returns "" when
    // it passes, else git's complaint.
    std::string fsck(const std::string &msg_types = {}) const;

    // After index() (and its checks) succeeded: writes the pack's objects
    // that repo_odb lacks as loose objects in the quarantine (objects/
    // incoming-*/xx/yyyy...) and drops the pack, as git's unpack-objects
    // keeps a small push (loose_unpack.h). Throws gsh::Error(500) when an
    // object cannot be written or does not resolve to its id.
    void explode_to_loose(git_odb *repo_odb, const LooseWriteOptions &options);

    // Moves the quarantine's objects in, in git's tmp_objdir_migrate()
    // order: loose objects first, each xx/ directory made when missing and
    // each file linked to its name, an object already there kept (an id
    // names one content); then the pack into objects/pack (the .pack first,
    // so that the .idx never names a missing pack; each file synced to disk
    // before it moves, and the directory after). With the fsync of
    // explode_to_loose()'s options, the directories loose objects went into
    // are synced too (their files were when written). Then removes the
    // quarantine. Throws gsh::Error(500) when a move fails. An empty pack is
    // dropped instead.
    void migrate();

  private:
    std::string git_dir_, dir_;
    std::string pack_name_; // "pack-<hash>" once indexed
    std::string fatal_, missing_;
    unsigned long long objects_ = 0, bytes_ = 0;
    uint32_t header_objects_ = 0;
    bool loose_fsync_ = false;
};

} // namespace gsh
