#include "repo/ref_store.h"
#include "util/oid_hex.h"

#include <dirent.h>
#include <fcntl.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <set>
#include <string_view>

#include "repo/config_entries.h"
#include "repo/lock_file.h"
#include "repo/packed_refs.h"

namespace gsh {

namespace {

constexpr size_t kNone = static_cast<size_t>(-1);

bool is_zero(const git_oid &id) {
    return git_oid_is_zero(&id) == 1;
}

// A failure that ends the transaction, with git's message.
struct Abort {
    std::string message;
};

// git's copy_reflog_msg(): whitespace runs become one space, none leading
// or trailing.
std::string normalise_reflog_message(std::string_view msg) {
    std::string out;
    bool was_space = true;
    for (char c : msg) {
        const bool space = std::isspace(static_cast<unsigned char>(c));
        if (was_space && space)
            continue;
        was_space = space;
        out.push_back(space ? ' ' : c);
    }
    while (!out.empty() && std::isspace(static_cast<unsigned char>(out.back())))
        out.pop_back();
    return out;
}

enum class Scld { Ok, Exists, Vanished, Failed };

// git's safe_create_leading_directories() for root/rel, root existing.
Scld create_leading_directories(const std::string &root, std::string_view rel) {
    std::string path = root;
    size_t start = 0;
    for (size_t slash = rel.find('/'); slash != std::string_view::npos;
         start = slash + 1, slash = rel.find('/', start)) {
        path += "/";
        path += rel.substr(start, slash - start);
        struct stat st;
        if (::stat(path.c_str(), &st) == 0) {
            if (!S_ISDIR(st.st_mode)) {
                errno = ENOTDIR;
                return Scld::Exists;
            }
        } else if (::mkdir(path.c_str(), 0777) < 0) {
            if (errno == EEXIST && ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
                continue; // someone else made it meanwhile
            return errno == ENOENT ? Scld::Vanished : Scld::Failed;
        }
    }
    return Scld::Ok;
}

// git's remove_dir_recursively(REMOVE_DIR_EMPTY_ONLY): removes path when it
// holds nothing but empty directories. 0 when it is gone.
int remove_empty_tree(const std::string &path) {
    DIR *dir = ::opendir(path.c_str());
    if (!dir) {
        if (errno == ENOENT)
            return 0;
        return errno == EACCES ? ::rmdir(path.c_str()) : -1;
    }
    int ret = 0;
    while (const dirent *e = ::readdir(dir)) {
        const std::string_view name = e->d_name;
        if (name == "." || name == "..")
            continue;
        const std::string child = path + "/" + std::string(name);
        struct stat st;
        if (::lstat(child.c_str(), &st) < 0) {
            if (errno == ENOENT)
                continue;
        } else if (S_ISDIR(st.st_mode) && remove_empty_tree(child) == 0) {
            continue;
        }
        ret = -1;
        break;
    }
    ::closedir(dir);
    if (ret == 0)
        ret = (::rmdir(path.c_str()) == 0 || errno == ENOENT) ? 0 : -1;
    return ret;
}

// lockfile.c's resolve_symlink(): the file a lock on path stands for.
std::string resolve_symlink(std::string path) {
    for (int depth = 0; depth < 5; depth++) {
        char buf[4096];
        const ssize_t n = ::readlink(path.c_str(), buf, sizeof(buf));
        if (n < 0 || static_cast<size_t>(n) >= sizeof(buf))
            break;
        const std::string link(buf, static_cast<size_t>(n));
        if (!link.empty() && link[0] == '/') {
            path = link;
        } else {
            size_t i = path.size();
            while (i && path[i - 1] == '/')
                i--;
            while (i && path[i - 1] != '/')
                i--;
            path = path.substr(0, i) + link;
        }
    }
    return path;
}

// What reading one ref found, as git's files_read_raw_ref() reports it.
struct RawRef {
    int err = 0; // 0 when read; else ENOENT, EISDIR, EINVAL (broken) or the errno
    git_oid id{};
    bool symbolic = false;
    std::string target; // a symbolic ref's referent
    bool packed = false;
};

struct Update {
    std::string name;
    std::optional<git_oid> old_id;
    git_oid new_id{};
    bool deleting = false;
    bool log_only = false; // HEAD's reflog line for the branch it names
    size_t change = kNone; // the caller's index, kNone for HEAD's line

    LockFile lock;
    git_oid current{}; // read under the lock; zero when missing
    bool symbolic = false;
    bool packed = false; // found in packed-refs only
    bool needs_commit = false;
    bool rmdir = false; // a deletion: empty parent directories go
};

class Transaction {
  public:
    Transaction(const std::string &dir, git_odb *odb, const RefStoreConfig &config)
        : dir_(dir), odb_(odb), config_(config) {}
    ~Transaction() { cleanup(); }
    Transaction(const Transaction &) = delete;
    Transaction &operator=(const Transaction &) = delete;

    void run(const std::vector<RefChange> &changes, const std::string &committer,
             const std::string &message, std::vector<bool> &done) {
        committer_ = committer;
        message_ = normalise_reflog_message(message);
        for (size_t i = 0; i < changes.size(); i++) {
            Update &u = updates_.emplace_back();
            u.name = changes[i].name;
            u.old_id = changes[i].old_id;
            u.new_id = changes[i].new_id;
            u.deleting = is_zero(u.new_id);
            u.change = i;
        }
        prepare();
        finish(done);
        cleanup();
    }

  private:
    // files_transaction_prepare(): every lock, every check, and the new
    // packed-refs written aside, before anything moves.
    void prepare() {
        std::set<std::string> affected;
        for (const Update &u : updates_)
            if (!affected.insert(u.name).second)
                throw Abort{"multiple updates for ref '" + u.name + "' not allowed"};
        // An update of the branch HEAD names goes in HEAD's reflog too.
        std::optional<std::string> head_ref;
        const RawRef head = read_raw("HEAD", true);
        if (head.err == 0 && head.symbolic)
            head_ref = head.target;
        // lock_for_update() may append HEAD's line, which is then locked
        // in its turn.
        for (size_t i = 0; i < updates_.size(); i++)
            lock_for_update(updates_[i], head_ref, affected);

        std::vector<std::string> deleted;
        for (const Update &u : updates_)
            if (u.deleting && !u.log_only)
                deleted.push_back(u.name);
        if (deleted.empty())
            return;
        std::sort(deleted.begin(), deleted.end());
        // Held until every loose file is gone, so that nobody packs a ref
        // that is being deleted.
        packed_target_ = resolve_symlink(path("packed-refs"));
        if (!packed_lock_.lock(packed_target_, config_.packed_lock_timeout_ms))
            throw Abort{unable_to_lock_message(shown_abs("packed-refs"), errno)};
        if (!packed_lock_.close())
            throw Abort{"unable to close " + shown("packed-refs") + ": " + std::strerror(errno)};
        const PackedRefs packed = read_packed();
        const bool needed = std::any_of(deleted.begin(), deleted.end(), [&](const std::string &n) {
            return packed.find(n) != nullptr;
        });
        if (!needed)
            return;
        const std::string fresh = packed_target_ + ".new";
        const std::string shown_fresh = shown_abs("packed-refs.new");
        if (!packed_new_.create(fresh))
            throw Abort{"unable to create file " + shown_fresh + ": " + std::strerror(errno)};
        if (!packed_new_.write_and_close(packed.without(deleted, odb_), config_.fsync))
            throw Abort{"error writing to " + shown_fresh + ": " + std::strerror(errno)};
    }

    // files_transaction_finish(): new values first, so that live commits
    // stay referenced; then the deletions' reflogs, packed-refs, and the
    // deleted loose files.
    void finish(std::vector<bool> &done) {
        for (const Update &u : updates_)
            if (u.change != kNone && !u.deleting && !u.needs_commit)
                done[u.change] = true; // already what was asked
        for (Update &u : updates_) {
            if (u.needs_commit || u.log_only) {
                const std::string err = write_reflog(u.name, u.current, u.new_id);
                if (!err.empty()) {
                    u.lock.rollback();
                    throw Abort{"cannot update the ref '" + u.name + "': " + err};
                }
            }
            if (u.needs_commit) {
                const std::string target = path(u.name);
                struct stat st;
                if (::lstat(target.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
                    remove_empty_tree(target); // the rename reports what stays
                if (!u.lock.commit(target))
                    throw Abort{"couldn't set '" + u.name + "'"};
                if (u.change != kNone)
                    done[u.change] = true;
            }
        }
        // A ref without its reflog is less bad than a reflog without its ref.
        for (const Update &u : updates_)
            if (u.deleting && !u.log_only && ::unlink(path("logs/" + u.name).c_str()) == 0)
                remove_empty_parents(u.name, false, true);
        if (packed_new_.held() && !packed_new_.commit(packed_target_))
            throw Abort{"error replacing " + shown("packed-refs") + ": " + std::strerror(errno)};
        for (Update &u : updates_) {
            if (!u.deleting || u.log_only)
                continue;
            u.rmdir = true;
            if ((!u.packed || u.symbolic) && ::unlink(path(u.name).c_str()) < 0 && errno != ENOENT)
                throw Abort{"unable to unlink '" + shown(u.name) + "': " + std::strerror(errno)};
            if (u.change != kNone)
                done[u.change] = true;
        }
    }

    // files_transaction_cleanup(), then the empty directories deletions
    // left (only possible once their locks are gone).
    void cleanup() {
        for (Update &u : updates_)
            u.lock.rollback();
        packed_new_.rollback();
        packed_lock_.rollback();
        for (Update &u : updates_)
            if (u.rmdir) {
                remove_empty_parents(u.name, true, false);
                u.rmdir = false;
            }
    }

    // lock_ref_for_update().
    void lock_for_update(Update &u, const std::optional<std::string> &head_ref,
                         std::set<std::string> &affected) {
        const bool must_exist = u.old_id && !is_zero(*u.old_id);
        if (head_ref && !u.log_only && u.name == *head_ref) {
            if (affected.count("HEAD"))
                throw Abort{"multiple updates for 'HEAD' (including one via its referent '" +
                            u.name + "') are not allowed"};
            Update &h = updates_.emplace_back();
            h.name = "HEAD";
            h.old_id = u.old_id;
            h.new_id = u.new_id;
            h.deleting = u.deleting;
            h.log_only = true;
            affected.insert("HEAD");
        }
        std::string target;
        const std::string reason = lock_raw(u, must_exist, affected, target);
        if (!reason.empty())
            throw Abort{"cannot lock ref '" + u.name + "': " + reason};
        if (u.symbolic) {
            if (!u.log_only)
                throw Abort{"cannot lock ref '" + u.name +
                            "': is a symbolic ref, which a push does not update here"};
            // HEAD itself is not changed: its line records its referent.
            if (!resolve(target, u.current)) {
                if (u.old_id)
                    throw Abort{"cannot lock ref '" + u.name + "': error reading reference"};
            } else {
                check_old(u);
            }
        } else {
            check_old(u);
        }
        if (!u.deleting && !u.log_only && !git_oid_equal(&u.current, &u.new_id)) {
            write_new_value(u);
            u.needs_commit = true;
        }
        if (!u.needs_commit && !u.lock.close())
            throw Abort{"couldn't close '" + u.name + ".lock'"};
    }

    // lock_raw_ref(): u's lock taken, and its current value read under it.
    // Returns "" or why not. target: a symbolic ref's referent.
    std::string lock_raw(Update &u, bool must_exist, const std::set<std::string> &affected,
                         std::string &target) {
        const std::string file = path(u.name);
        const std::string not_found = "unable to resolve reference '" + u.name + "'";
        int attempts = 3;
        for (;;) {
            switch (create_leading_directories(dir_, u.name)) {
            case Scld::Ok:
                break;
            case Scld::Exists: {
                // A file where a directory should be: a ref named like
                // one of ours' parents, most likely.
                const std::string conflict = verify_available(u.name, affected, false);
                if (!conflict.empty())
                    return must_exist ? not_found : conflict;
                return "unable to create lock file " + shown(u.name) +
                       ".lock; non-directory in the way";
            }
            case Scld::Vanished:
                if (--attempts > 0)
                    continue;
                [[fallthrough]];
            case Scld::Failed:
                return "unable to create directory for " + shown(u.name);
            }
            if (u.lock.lock(file, config_.loose_lock_timeout_ms))
                break;
            const int err = errno;
            if (err == ENOENT && --attempts > 0)
                continue; // someone removed a directory on the way
            return unable_to_lock_message(shown_abs(u.name), err);
        }

        const RawRef raw = read_raw(u.name, false);
        if (raw.err == 0) {
            u.current = raw.id;
            u.packed = raw.packed;
            u.symbolic = raw.symbolic;
            target = raw.target;
            return "";
        }
        if (raw.err == ENOENT) {
            if (must_exist)
                return not_found;
        } else if (raw.err == EISDIR) {
            if (must_exist)
                return not_found;
            if (remove_empty_tree(file) != 0) {
                const std::string conflict = verify_available(u.name, affected, false);
                if (!conflict.empty())
                    return conflict;
                return "there is a non-empty directory '" + shown(u.name) +
                       "' blocking reference '" + u.name + "'";
            }
        } else if (raw.err == EINVAL) {
            return not_found + ": reference broken";
        } else {
            return not_found + ": " + std::strerror(raw.err);
        }
        // Missing: no loose ref can be in the way (the lock was made, and
        // the ref's path is no directory), a packed one can.
        u.current = git_oid{};
        return verify_available(u.name, affected, true);
    }

    // check_old_oid().
    void check_old(const Update &u) const {
        if (!u.old_id || git_oid_equal(&*u.old_id, &u.current))
            return;
        const std::string head = "cannot lock ref '" + u.name + "': ";
        if (is_zero(*u.old_id))
            throw Abort{head + "reference already exists"};
        if (is_zero(u.current))
            throw Abort{head + "reference is missing but expected " + oid_hex(*u.old_id)};
        throw Abort{head + "is at " + oid_hex(u.current) + " but expected " + oid_hex(*u.old_id)};
    }

    // write_ref_to_lockfile().
    void write_new_value(Update &u) {
        const std::string head = "cannot update ref '" + u.name + "': ";
        if (odb_) {
            size_t len = 0;
            git_object_t type = GIT_OBJECT_INVALID;
            if (git_odb_read_header(&len, &type, odb_, &u.new_id) < 0) {
                git_error_clear();
                throw Abort{head + "trying to write ref '" + u.name + "' with nonexistent object " +
                            oid_hex(u.new_id)};
            }
            if (type != GIT_OBJECT_COMMIT &&
                (u.name == "HEAD" || u.name.starts_with("refs/heads/")))
                throw Abort{head + "trying to write non-commit object " + oid_hex(u.new_id) +
                            " to branch '" + u.name + "'"};
        }
        if (!u.lock.write_and_close(oid_hex(u.new_id) + "\n", config_.fsync))
            throw Abort{head + "couldn't write '" + shown_abs(u.name + ".lock") + "'"};
    }

    // refs_verify_refname_available() over the loose and packed refs, or
    // the packed ones only: "" when name can be made.
    std::string verify_available(const std::string &name, const std::set<std::string> &extras,
                                 bool packed_only) {
        const PackedRefs packed = read_packed(); // one look at it for the whole check
        for (size_t slash = name.find('/'); slash != std::string::npos;
             slash = name.find('/', slash + 1)) {
            const std::string parent = name.substr(0, slash);
            const bool exists = packed_only ? packed.find(parent) != nullptr
                                            : read_raw(parent, false, &packed).err == 0;
            if (exists)
                return "'" + parent + "' exists; cannot create '" + name + "'";
            if (extras.count(parent))
                return "cannot process '" + name + "' and '" + parent + "' at the same time";
        }
        const std::string prefix = name + "/";
        std::string first;
        if (const PackedRef *p = packed.first_with_prefix(prefix))
            first = p->name;
        if (!packed_only)
            first_loose(name, first);
        if (!first.empty())
            return "'" + first + "' exists; cannot create '" + name + "'";
        const auto it = extras.lower_bound(prefix);
        if (it != extras.end() && it->starts_with(prefix))
            return "cannot process '" + name + "' and '" + *it + "' at the same time";
        return "";
    }

    // Lowers first to the smallest loose ref name under dir (a ref name),
    // as git's loose ref cache lists them: no dot files, no locks.
    void first_loose(const std::string &dir, std::string &first) {
        DIR *d = ::opendir(path(dir).c_str());
        if (!d)
            return;
        std::vector<std::string> names;
        while (const dirent *e = ::readdir(d)) {
            const std::string_view n = e->d_name;
            if (n.empty() || n[0] == '.' || n.ends_with(".lock"))
                continue;
            names.emplace_back(n);
        }
        ::closedir(d);
        for (const std::string &n : names) {
            const std::string name = dir + "/" + n;
            struct stat st;
            if (::stat(path(name).c_str(), &st) < 0)
                continue;
            if (S_ISDIR(st.st_mode))
                first_loose(name, first);
            else if (first.empty() || name < first)
                first = name;
        }
    }

    // read_ref_internal(): the loose file, else packed-refs as it is now
    // (or as given).
    RawRef read_raw(const std::string &name, bool skip_packed, const PackedRefs *packed = nullptr) {
        const std::string file = path(name);
        RawRef out;
        for (int retries = 3; retries > 0; retries--) {
            out = RawRef{};
            struct stat st;
            if (::lstat(file.c_str(), &st) < 0) {
                out.err = errno;
                if (out.err == ENOENT && !skip_packed)
                    from_packed(name, out, packed);
                return out;
            }
            if (S_ISLNK(st.st_mode)) {
                char buf[4096];
                const ssize_t n = ::readlink(file.c_str(), buf, sizeof(buf) - 1);
                if (n < 0) {
                    if (errno == ENOENT || errno == EINVAL)
                        continue; // changed under us
                    out.err = errno;
                    return out;
                }
                const std::string link(buf, static_cast<size_t>(n));
                if (link.starts_with("refs/")) {
                    out.symbolic = true;
                    out.target = link;
                    return out;
                }
            }
            if (S_ISDIR(st.st_mode)) {
                out.err = EISDIR;
                if (!skip_packed)
                    from_packed(name, out, packed);
                return out;
            }
            const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
            if (fd < 0) {
                if (errno == ENOENT && !S_ISLNK(st.st_mode))
                    continue;
                out.err = errno;
                return out;
            }
            std::string text;
            char buf[512];
            ssize_t n;
            while ((n = ::read(fd, buf, sizeof(buf))) != 0) {
                if (n < 0 && errno == EINTR)
                    continue;
                if (n < 0)
                    break;
                text.append(buf, static_cast<size_t>(n));
            }
            const int read_err = n < 0 ? errno : 0;
            ::close(fd);
            if (read_err) {
                out.err = read_err;
                return out;
            }
            parse_loose(text, out);
            return out;
        }
        out.err = ENOENT;
        return out;
    }

    // parse_loose_ref_contents().
    static void parse_loose(std::string text, RawRef &out) {
        while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
            text.pop_back();
        if (text.starts_with("ref:")) {
            size_t i = 4;
            while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i])))
                i++;
            out.symbolic = true;
            out.target = text.substr(i);
            return;
        }
        bool hex_ok = text.size() >= GIT_OID_HEXSZ;
        for (size_t i = 0; hex_ok && i < GIT_OID_HEXSZ; i++)
            hex_ok = std::isxdigit(static_cast<unsigned char>(text[i]));
        if (!hex_ok ||
            (text.size() > GIT_OID_HEXSZ &&
             !std::isspace(static_cast<unsigned char>(text[GIT_OID_HEXSZ]))) ||
            git_oid_fromstrn(&out.id, text.data(), GIT_OID_HEXSZ) < 0) {
            out.err = EINVAL;
            out.id = git_oid{};
        }
    }

    void from_packed(const std::string &name, RawRef &out, const PackedRefs *packed) {
        std::optional<PackedRefs> fresh;
        if (!packed)
            packed = &fresh.emplace(read_packed());
        if (const PackedRef *p = packed->find(name)) {
            out = RawRef{};
            out.id = p->id;
            out.packed = true;
        }
    }

    // refs_resolve_ref_unsafe() without RESOLVE_REF_READING: a missing ref
    // is zero; false when the chain is broken.
    bool resolve(std::string name, git_oid &out) {
        for (int depth = 0; depth < 5; depth++) {
            const RawRef raw = read_raw(name, false);
            if (raw.err == ENOENT) {
                out = git_oid{};
                return true;
            }
            if (raw.err)
                return false;
            if (!raw.symbolic) {
                out = raw.id;
                return true;
            }
            name = raw.target;
        }
        return false;
    }

    PackedRefs read_packed() {
        std::string err;
        std::optional<PackedRefs> refs =
            PackedRefs::read(path("packed-refs"), shown("packed-refs"), err);
        if (!refs)
            throw Abort{err};
        return std::move(*refs);
    }

    // files_log_ref_write(): a line appended where git keeps a reflog for
    // name. Returns "" or why not.
    std::string write_reflog(const std::string &name, const git_oid &old_id,
                             const git_oid &new_id) {
        const std::string rel = "logs/" + name;
        const std::string file = path(rel);
        int fd = -1;
        if (autocreate_reflog(name)) {
            const auto open_fn = [&] {
                fd = ::open(file.c_str(), O_APPEND | O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
                return fd >= 0;
            };
            if (!raceproof_create(rel, open_fn)) {
                if (errno == ENOENT)
                    return "unable to create directory for '" + shown(rel) +
                           "': " + std::strerror(errno);
                if (errno == EISDIR)
                    return "there are still logs under '" + shown(rel) + "'";
                return "unable to append to '" + shown(rel) + "': " + std::strerror(errno);
            }
        } else {
            fd = ::open(file.c_str(), O_APPEND | O_WRONLY | O_CLOEXEC);
            if (fd < 0) {
                if (errno == ENOENT || errno == EISDIR)
                    return ""; // no reflog, and none is to be made
                return "unable to append to '" + shown(rel) + "': " + std::strerror(errno);
            }
        }
        std::string line = oid_hex(old_id) + " " + oid_hex(new_id) + " " + committer_;
        if (!message_.empty())
            line += "\t" + message_;
        line += "\n";
        const bool wrote = write_all(fd, line);
        const int err = errno;
        if (::close(fd) < 0 || !wrote)
            return "unable to append to '" + shown(rel) +
                   "': " + std::strerror(wrote ? errno : err);
        return "";
    }

    bool autocreate_reflog(const std::string &name) const {
        switch (config_.reflogs) {
        case RefStoreConfig::Reflogs::Always:
            return true;
        case RefStoreConfig::Reflogs::Normal:
            return name.starts_with("refs/heads/") || name.starts_with("refs/remotes/") ||
                   name.starts_with("refs/notes/") || name == "HEAD";
        default:
            return false;
        }
    }

    // raceproof_create_file(): fn() again after making the missing
    // directories, or after removing an empty directory in the way.
    template <typename Fn> bool raceproof_create(const std::string &rel, Fn fn) {
        int remove_directories = 1;
        int create_directories = 3;
        for (;;) {
            if (fn())
                return true;
            const int err = errno;
            bool again = false;
            if (err == EISDIR && remove_directories-- > 0) {
                again = remove_empty_tree(path(rel)) == 0;
            } else if (err == ENOENT && create_directories-- > 0) {
                Scld r;
                do
                    r = create_leading_directories(dir_, rel);
                while (r == Scld::Vanished && create_directories-- > 0);
                again = r == Scld::Ok;
            }
            if (!again) {
                errno = err;
                return false;
            }
        }
    }

    // try_remove_empty_parents(): name's empty parent directories up to,
    // not including, refs/<kind>/ (and the same under logs/).
    void remove_empty_parents(const std::string &name, bool refs, bool logs) {
        size_t p = 0;
        for (int i = 0; i < 2; i++) {
            while (p < name.size() && name[p] != '/')
                p++;
            while (p < name.size() && name[p] == '/')
                p++;
        }
        std::string parent = name;
        while (refs || logs) {
            size_t q = parent.size();
            while (q > p && (q == parent.size() || parent[q] != '/'))
                q--;
            while (q > p && parent[q - 1] == '/')
                q--;
            if (q == p)
                break;
            parent.resize(q);
            if (refs && ::rmdir(path(parent).c_str()) < 0)
                refs = false;
            if (logs && ::rmdir(path("logs/" + parent).c_str()) < 0)
                logs = false;
        }
    }

    std::string path(const std::string &rel) const { return dir_ + "/" + rel; }
    // How git's receive-pack, working in the repository with GIT_DIR ".",
    // names a file in its messages: relative, or made absolute from there.
    static std::string shown(const std::string &rel) { return "./" + rel; }
    std::string shown_abs(const std::string &rel) const { return dir_ + "/./" + rel; }

    const std::string &dir_;
    git_odb *odb_;
    const RefStoreConfig &config_;
    std::string committer_, message_;
    // Released in this order by cleanup(): the loose locks, packed-refs.new,
    // packed-refs.lock.
    std::deque<Update> updates_;
    std::string packed_target_;
    LockFile packed_new_;
    LockFile packed_lock_;
};

} // namespace

// git's core.fsync parsing (parse_fsync_components()), reduced to whether
// one component is in: components named by a prefix of their name, "-x"
// removes, "none" clears the default.
bool fsync_component(const std::string &value, std::string_view component) {
    enum : unsigned {
        Loose = 1,
        Pack = 2,
        PackMeta = 4,
        Graph = 8,
        Index = 16,
        Ref = 32,
        Objects = Loose | Pack,
        Derived = PackMeta | Graph,
        Default = (Objects | Derived) & ~Loose,
        Committed = Objects | Ref,
        Added = Committed | Index,
        All = Loose | Pack | PackMeta | Graph | Index | Ref,
    };
    static const std::pair<std::string_view, unsigned> kNames[] = {{"loose-object", Loose},
                                                                   {"pack", Pack},
                                                                   {"pack-metadata", PackMeta},
                                                                   {"commit-graph", Graph},
                                                                   {"index", Index},
                                                                   {"objects", Objects},
                                                                   {"reference", Ref},
                                                                   {"derived-metadata", Derived},
                                                                   {"committed", Committed},
                                                                   {"added", Added},
                                                                   {"all", All}};
    unsigned current = Default, positive = 0, negative = 0;
    std::string_view s = value;
    while (true) {
        const size_t skip = s.find_first_not_of(", \t\n\r");
        s.remove_prefix(skip == std::string_view::npos ? s.size() : skip);
        const size_t comma = s.find(',');
        std::string_view item = s.substr(0, comma);
        if (s == "none") {
            current = 0;
        } else {
            bool negated = false;
            if (!item.empty() && item[0] == '-') {
                negated = true;
                item.remove_prefix(1);
            }
            if (item.empty())
                break;
            for (const auto &[name, bits] : kNames)
                if (name.starts_with(item))
                    (negated ? negative : positive) |= bits;
        }
        if (comma == std::string_view::npos)
            break;
        s.remove_prefix(comma);
    }
    unsigned wanted = 0;
    for (const auto &[name, bits] : kNames)
        if (name == component)
            wanted = bits;
    return wanted != 0 && (((current & ~negative) | positive) & wanted) == wanted;
}

RefStoreConfig load_ref_store_config(git_repository *repo) {
    const std::vector<ConfigEntry> entries =
        read_config_entries(repo, {"core.filesreflocktimeout", "core.packedrefstimeout",
                                   "core.logallrefupdates", "core.bare", "core.fsync"});
    RefStoreConfig conf;
    std::optional<RefStoreConfig::Reflogs> reflogs;
    bool bare = true; // git's is_bare_repository_cfg starts unset, which counts as bare
    for (const ConfigEntry &e : entries) {
        int32_t n = 0;
        if (e.name == "core.filesreflocktimeout" &&
            git_config_parse_int32(&n, e.value.c_str()) == 0)
            conf.loose_lock_timeout_ms = n;
        else if (e.name == "core.packedrefstimeout" &&
                 git_config_parse_int32(&n, e.value.c_str()) == 0)
            conf.packed_lock_timeout_ms = n;
        else if (e.name == "core.logallrefupdates")
            reflogs = !e.implicit && strcasecmp(e.value.c_str(), "always") == 0
                          ? RefStoreConfig::Reflogs::Always
                      : e.as_bool() ? RefStoreConfig::Reflogs::Normal
                                    : RefStoreConfig::Reflogs::None;
        else if (e.name == "core.bare")
            bare = e.as_bool();
        else if (e.name == "core.fsync" && !e.implicit)
            conf.fsync = fsync_component(e.value, "reference");
    }
    git_error_clear();
    conf.reflogs =
        reflogs.value_or(bare ? RefStoreConfig::Reflogs::None : RefStoreConfig::Reflogs::Normal);
    return conf;
}

FilesRefStore::FilesRefStore(std::string git_dir, git_odb *odb, RefStoreConfig config)
    : dir_(std::move(git_dir)), odb_(odb), config_(config) {
    while (dir_.size() > 1 && dir_.back() == '/')
        dir_.pop_back();
}

RefCommitResult FilesRefStore::commit(const std::vector<RefChange> &changes,
                                      const std::string &committer,
                                      const std::string &message) const {
    RefCommitResult result;
    result.done.assign(changes.size(), false);
    if (changes.empty())
        return result;
    try {
        Transaction tx(dir_, odb_, config_);
        tx.run(changes, committer, message, result.done);
    } catch (const Abort &a) {
        result.error = a.message;
    }
    return result;
}

std::string reflog_committer(const git_signature &sig) {
    const int offset = sig.when.offset;
    const char sign = offset < 0 || sig.when.sign == '-' ? '-' : '+';
    const int minutes = offset < 0 ? -offset : offset;
    char tail[64];
    std::snprintf(tail, sizeof(tail), " %lld %c%02d%02d", static_cast<long long>(sig.when.time),
                  sign, minutes / 60, minutes % 60);
    return std::string(sig.name ? sig.name : "") + " <" + (sig.email ? sig.email : "") + ">" + tail;
}

} // namespace gsh
