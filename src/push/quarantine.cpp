#include "push/quarantine.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "odb/loose_writer.h"
#include "push/index_pack.h"
#include "push/loose_unpack.h"
#include "push/pack_check.h"
#include "util/error.h"
#include "util/git_ptr.h"
#include "util/subprocess.h"
#include "walk/connectivity.h"

namespace gsh {

namespace {

constexpr char kPrefix[] = "incoming-";
constexpr size_t kChunk = 64 * 1024;
// Of git index-pack's complaints, enough for the first line.
constexpr size_t kMaxFsckErrors = 4096;

constexpr size_t kHostIdDigits = 16;

// A quarantine's name, taken apart: "incoming-h<host>-<pid>-XXXXXX", or the
// older "incoming-<pid>-XXXXXX" (host empty). Other names (git's own
// incoming-XXXXXX among them) are not ours.
struct QuarantineName {
    std::string host;
    pid_t pid = 0;
};

// The decimal pid at the front of s, up to a '-' followed by something.
bool take_pid(std::string_view s, pid_t *pid) {
    const size_t dash = s.find('-');
    if (dash == 0 || dash == std::string_view::npos || dash + 1 == s.size() || dash > 10)
        return false;
    long long value = 0;
    for (char c : s.substr(0, dash)) {
        if (c < '0' || c > '9')
            return false;
        value = value * 10 + (c - '0');
    }
    if (value <= 0 || value > std::numeric_limits<pid_t>::max())
        return false;
    *pid = static_cast<pid_t>(value);
    return true;
}

std::optional<QuarantineName> parse_name(std::string_view name) {
    if (!name.starts_with(kPrefix))
        return std::nullopt;
    name.remove_prefix(sizeof(kPrefix) - 1);
    QuarantineName q;
    if (name.starts_with('h')) {
        const std::string_view host = name.substr(0, 1 + kHostIdDigits);
        if (host.size() != 1 + kHostIdDigits || name.size() <= host.size() ||
            name[host.size()] != '-')
            return std::nullopt;
        for (char c : host.substr(1))
            if (!std::isxdigit(static_cast<unsigned char>(c)))
                return std::nullopt;
        q.host = std::string(host);
        name.remove_prefix(host.size() + 1);
    }
    if (!take_pid(name, &q.pid))
        return std::nullopt;
    return q;
}

std::string read_first_line(const char *path) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    return line;
}

// 64-bit FNV-1a: stable across builds and hosts, which std::hash is not.
uint64_t fnv1a(std::string_view s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned char c : s) {
        h ^= c;
        h *= 0x100000001b3ull;
    }
    return h;
}

std::string make_host_id() {
    const std::string boot = read_first_line("/proc/sys/kernel/random/boot_id");
    struct stat ns;
    uint64_t h = 0;
    if (!boot.empty() && stat("/proc/self/ns/pid", &ns) == 0) {
        h = fnv1a(boot + "\n" + std::to_string(ns.st_dev) + ":" + std::to_string(ns.st_ino));
    } else if (getrandom(&h, sizeof(h), GRND_NONBLOCK) != static_cast<ssize_t>(sizeof(h))) {
        h = fnv1a(std::to_string(time(nullptr)) + ":" + std::to_string(getpid()) + ":" +
                  std::to_string(reinterpret_cast<uintptr_t>(&h)));
    }
    char buf[2 + kHostIdDigits];
    std::snprintf(buf, sizeof(buf), "h%016llx", static_cast<unsigned long long>(h));
    return buf;
}

// The newest modification time in the tree at path (the directory itself
// included); nullopt when it cannot be read whole, so that it counts as new.
std::optional<time_t> newest_mtime(const std::string &path) {
    struct stat st;
    if (lstat(path.c_str(), &st) != 0)
        return std::nullopt;
    time_t newest = st.st_mtime;
    std::error_code ec;
    std::filesystem::recursive_directory_iterator it(path, ec), end;
    if (ec)
        return std::nullopt;
    for (; it != end; it.increment(ec)) {
        if (ec || lstat(it->path().c_str(), &st) != 0)
            return std::nullopt;
        newest = std::max(newest, st.st_mtime);
    }
    if (ec)
        return std::nullopt;
    return newest;
}

void remove_tree(const std::string &path) {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
}

// git's default core.fsync covers packs and their indexes: a ref must not
// outlive a crash that the objects it names did not. The quarantined files
// are synced before they move, and their new directory after.
void sync_path(const std::string &path, int flags) {
    const int fd = open(path.c_str(), flags | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        const int err = errno;
        if (fd >= 0)
            close(fd);
        throw Error("unable to migrate objects to permanent storage: fsync " + path + ": " +
                    strerror(err));
    }
    close(fd);
}

// The header first, whole: "PACK", the version, the object count. Returns
// how many of its 12 bytes came before the end.
size_t read_pack_header(const std::function<size_t(void *, size_t)> &read, char *buf) {
    size_t have = 0;
    while (have < 12) {
        const size_t n = read(buf + have, 12 - have);
        if (n == 0)
            break;
        have += n;
    }
    return have;
}

// Why a pack header claims more objects than max_bytes can hold: refused
// before anything is read, in the words pushes have been refused with;
// "" when it does not.
std::string too_many_objects(const char *buf, size_t have, size_t max_bytes) {
    if (have < 12 || std::memcmp(buf, "PACK", 4) != 0)
        return std::string();
    const auto *h = reinterpret_cast<const unsigned char *>(buf);
    const uint32_t claimed =
        uint32_t(h[8]) << 24 | uint32_t(h[9]) << 16 | uint32_t(h[10]) << 8 | uint32_t(h[11]);
    // An object takes at least 9 bytes: a header byte and a whole zlib
    // stream (2 bytes of header, 2 of the shortest deflate block, 4 of
    // checksum).
    if (claimed <= max_bytes / 9)
        return std::string();
    return "index-pack: the pack header claims " + std::to_string(claimed) +
           " objects, more than " + std::to_string(max_bytes) + " bytes can hold";
}

// The object count of a pack header's last 4 bytes; 0 without a header.
uint32_t header_count(const char *buf, size_t have) {
    if (have < 12)
        return 0;
    const auto *h = reinterpret_cast<const unsigned char *>(buf);
    return uint32_t(h[8]) << 24 | uint32_t(h[9]) << 16 | uint32_t(h[10]) << 8 | uint32_t(h[11]);
}

bool is_loose_shard(const std::string &name) {
    return name.size() == 2 && std::isxdigit(static_cast<unsigned char>(name[0])) &&
           std::isxdigit(static_cast<unsigned char>(name[1]));
}

std::vector<std::string> entries(const std::string &dir) {
    std::vector<std::string> names;
    std::error_code ec;
    for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
        names.push_back(it->path().filename().string());
    if (ec)
        throw Error("unable to migrate objects to permanent storage: " + dir + ": " + ec.message());
    return names;
}

// The loose part of git's tmp_objdir_migrate(): each xx/ of the quarantine
// into objects/xx/ (made when missing), each object file linked to its name
// (place_object_file: one already there is kept). A temporary file a writer
// left (tmp_obj_*) stays behind and goes with the quarantine.
void migrate_loose(const std::string &from, const std::string &objects, bool fsync_dirs) {
    bool made_shard = false;
    for (const std::string &shard : entries(from)) {
        if (!is_loose_shard(shard))
            continue;
        const std::string dst = objects + "/" + shard;
        if (mkdir(dst.c_str(), 0777) == 0)
            made_shard = true;
        else if (errno != EEXIST)
            throw Error("unable to migrate objects to permanent storage: mkdir " + dst + ": " +
                        strerror(errno));
        for (const std::string &name : entries(from + "/" + shard)) {
            if (name.starts_with("tmp_obj_"))
                continue;
            if (const int err =
                    place_object_file(from + "/" + shard + "/" + name, dst + "/" + name))
                throw Error("unable to migrate objects to permanent storage: " + dst + "/" + name +
                            ": " + strerror(err));
        }
        if (fsync_dirs)
            sync_path(dst, O_RDONLY | O_DIRECTORY);
    }
    if (fsync_dirs && made_shard)
        sync_path(objects, O_RDONLY | O_DIRECTORY);
}

} // namespace

const std::string &quarantine_host_id() {
    static const std::string id = make_host_id();
    return id;
}

void remove_stale_quarantines(const std::string &objects_dir) {
    DIR *d = opendir(objects_dir.c_str());
    if (!d)
        return;
    std::vector<std::pair<std::string, QuarantineName>> ours;
    while (struct dirent *e = readdir(d)) {
        const std::optional<QuarantineName> q = parse_name(e->d_name);
        if (q)
            ours.emplace_back(objects_dir + "/" + e->d_name, *q);
    }
    closedir(d);
    const time_t cutoff =
        time(nullptr) - std::chrono::duration_cast<std::chrono::seconds>(kQuarantineGrace).count();
    for (auto &[path, q] : ours) {
        const bool dead_here =
            q.host == quarantine_host_id() && kill(q.pid, 0) != 0 && errno == ESRCH;
        if (dead_here) {
            remove_tree(path);
            continue;
        }
        const std::optional<time_t> newest = newest_mtime(path);
        if (newest && *newest < cutoff)
            remove_tree(path);
    }
}

Quarantine::Quarantine(const std::string &git_dir) : git_dir_(git_dir) {
    const std::string objects = git_dir + "/objects";
    remove_stale_quarantines(objects);
    std::string tmpl =
        objects + "/" + kPrefix + quarantine_host_id() + "-" + std::to_string(getpid()) + "-XXXXXX";
    if (!mkdtemp(tmpl.data()))
        throw Error("creating the quarantine directory in " + objects + ": " + strerror(errno));
    dir_ = tmpl;
    if (mkdir((dir_ + "/pack").c_str(), 0777) != 0) {
        const int err = errno;
        remove_tree(dir_);
        throw Error("creating the quarantine pack directory: " + std::string(strerror(err)));
    }
}

Quarantine::~Quarantine() {
    if (!dir_.empty())
        remove_tree(dir_);
}

std::string
Quarantine::index(git_odb *odb, const std::function<size_t(void *, size_t)> &read, size_t max_bytes,
                  const pack::PackCheckLimits &limits, bool has_refs,
                  const std::function<void(const git_indexer_progress &)> &on_progress) {
    pack::IndexPackOptions options;
    options.limits = limits;
    options.progress = on_progress;
    std::unique_ptr<char[]> buf(new char[kChunk]);
    const size_t have = read_pack_header(read, buf.get());
    header_objects_ = header_count(buf.get(), have);
    if (std::string err = too_many_objects(buf.get(), have, max_bytes); !err.empty())
        return err;
    std::exception_ptr read_error;
    try {
        pack::PackIndexer indexer(dir_ + "/pack", odb, options);
        auto refused = [&] {
            fatal_ = indexer.error();
            return std::string("index-pack abnormal exit");
        };
        if (!indexer.feed(buf.get(), have))
            return refused();
        for (;;) {
            size_t n = 0;
            try {
                n = read(buf.get(), kChunk);
            } catch (...) {
                read_error = std::current_exception();
                throw;
            }
            if (n == 0)
                break;
            if (!indexer.feed(buf.get(), n))
                return refused();
        }
        if (!indexer.finish())
            return refused();
        objects_ = indexer.objects();
        bytes_ = indexer.bytes();
        pack_name_ = indexer.name();
        if (objects_ == 0)
            return std::string();
        missing_ =
            pack::check_connectivity(indexer.sorted_objects(), indexer.links(), odb, has_refs);
        return std::string();
    } catch (const std::exception &e) {
        // What the body's reader throws (a broken gzip body) is the
        // request's failure, not the pack's: it goes on up as before.
        if (read_error)
            std::rethrow_exception(read_error);
        // gsh::Error (a file), std::bad_alloc (an object larger than memory
        // when no size limit is set), or what progress threw.
        return std::string("index-pack: ") + e.what();
    }
}

std::string Quarantine::fsck(const std::string &msg_types) const {
    if (pack_name_.empty() || objects_ == 0)
        return std::string();
    const std::string pack = dir_ + "/pack/" + pack_name_ + ".pack";
    const std::string scratch = dir_ + "/fsck.idx";
    Subprocess cmd;
    cmd.program = "git";
    cmd.args = {"index-pack", "--strict" + msg_types, "-o", scratch, pack};
    cmd.env = environment_with({{"GIT_DIR", git_dir_},
                                {"GIT_OBJECT_DIRECTORY", dir_},
                                {"GIT_ALTERNATE_OBJECT_DIRECTORIES", git_dir_ + "/objects"}});
    std::string errors;
    cmd.on_stderr = [&](std::string_view text) {
        errors.append(text.substr(0, kMaxFsckErrors - std::min(errors.size(), kMaxFsckErrors)));
    };
    unlink(scratch.c_str());
    const SubprocessResult run = run_subprocess(cmd);
    if (run.start_errno != 0)
        return std::string("fsck: cannot run git index-pack: ") + strerror(run.start_errno);
    if (run.status() == 0)
        return std::string();
    // git's first complaint says what is wrong; the rest repeats it.
    std::string first = errors.substr(0, errors.find('\n'));
    return "index-pack --strict failed" + (first.empty() ? std::string() : ": " + first);
}

void Quarantine::explode_to_loose(git_odb *repo_odb, const LooseWriteOptions &options) {
    loose_fsync_ = options.fsync;
    if (pack_name_.empty())
        return;
    const std::string base = dir_ + "/pack/" + pack_name_;
    if (objects_ > 0)
        unpack_to_loose(base + ".idx", repo_odb, dir_, options);
    for (const char *ext : {".idx", ".rev", ".pack"})
        if (unlink((base + ext).c_str()) != 0 && errno != ENOENT)
            throw Error("unpack-objects: removing " + base + ext + ": " + strerror(errno));
    pack_name_.clear();
}

void Quarantine::migrate() {
    // Loose objects first, as git's migration sorts them (only pack/ files
    // are ordered among themselves): each object file is whole once it has
    // its name, so their order with the pack does not matter.
    migrate_loose(dir_, git_dir_ + "/objects", loose_fsync_);
    if (!pack_name_.empty() && objects_ > 0) {
        const std::string from = dir_ + "/pack/" + pack_name_;
        const std::string to = git_dir_ + "/objects/pack/" + pack_name_;
        std::vector<const char *> exts;
        for (const char *ext : {".pack", ".rev", ".idx"}) {
            struct stat st;
            if (ext == std::string(".rev") && lstat((from + ext).c_str(), &st) != 0)
                continue;
            sync_path(from + ext, O_RDONLY);
            exts.push_back(ext);
        }
        for (const char *ext : exts)
            if (rename((from + ext).c_str(), (to + ext).c_str()) != 0)
                throw Error("unable to migrate objects to permanent storage: " + to + ext + ": " +
                            strerror(errno));
        sync_path(git_dir_ + "/objects/pack", O_RDONLY | O_DIRECTORY);
    }
    remove_tree(dir_);
    dir_.clear();
}

} // namespace gsh
