#include "service/publish.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <queue>
#include <unordered_set>

#include "repo/commits.h"
#include "repo/lock_file.h"
#include "repo/repo_access.h"
#include "repo/unique_oids.h"
#include "service/pack_section.h"
#include "service/upload_pack_common.h"
#include "util/error.h"
#include "util/fd.h"
#include "util/oid_hex.h"
#include "util/sha1.h"
#include "util/test_hook.h"
#include "walk/object_walk.h"

namespace gsh {

namespace {

constexpr std::string_view kManifestMagic = "gsh-published 1";
// Commit dates are trusted only this far: a walk goes on through commits up
// to a day older than the oldest it still looks for (git's SLOP, in time).
constexpr int64_t kDateSlop = 86400;
// Replaced bases kept for their grace period, at most.
constexpr size_t kMaxRetired = 8;
// A publish that failed is not tried again for this long (or interval,
// when shorter): a full disk would otherwise be filled again by every
// request.
constexpr int64_t kFailedBackoff = 300;

[[noreturn]] void fail(const std::string &what, const std::string &path, int err) {
    throw Error(what + " " + path + ": " + std::strerror(err));
}

std::string read_small_file(const std::string &path) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0)
        return std::string();
    std::string out;
    char buf[8192];
    for (;;) {
        const ssize_t k = ::read(fd.get(), buf, sizeof buf);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return out;
        out.append(buf, size_t(k));
        // A manifest lists the refs: 50,000 of them are a few MB.
        if (out.size() > (256u << 20))
            return std::string();
    }
}

bool parse_int(std::string_view s, int64_t *out) {
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
    return ec == std::errc() && p == s.data() + s.size();
}

bool is_hex40(std::string_view s) {
    git_oid unused;
    return parse_oid(s, &unused);
}

std::optional<PublishedBase> parse_manifest(std::string_view text) {
    PublishedBase base;
    bool first = true;
    while (!text.empty()) {
        const size_t nl = text.find('\n');
        if (nl == std::string_view::npos)
            return std::nullopt; // cut short: not one we wrote
        std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl + 1);
        if (first) {
            if (line != kManifestMagic)
                return std::nullopt;
            first = false;
            continue;
        }
        const size_t sp = line.find(' ');
        if (sp == std::string_view::npos)
            return std::nullopt;
        const std::string_view key = line.substr(0, sp), value = line.substr(sp + 1);
        int64_t n = 0;
        if (key == "pack" && is_hex40(value)) {
            base.hash = value;
        } else if (key == "stamp") {
            base.stamp = value;
        } else if (key == "filter") {
            base.filter = value;
        } else if (key == "time" && parse_int(value, &n)) {
            base.time = n;
        } else if (key == "objects" && parse_int(value, &n)) {
            base.objects = uint64_t(n);
        } else if (key == "size" && parse_int(value, &n)) {
            base.pack_size = uint64_t(n);
        } else if (key == "ref" && value.size() > GIT_OID_HEXSZ + 1) {
            git_oid oid;
            if (!parse_oid(value.substr(0, GIT_OID_HEXSZ), &oid))
                return std::nullopt;
            base.refs.emplace_back(std::string(value.substr(GIT_OID_HEXSZ + 1)), oid);
        } else if (key == "retired" && value.size() > GIT_OID_HEXSZ + 1 &&
                   is_hex40(value.substr(0, GIT_OID_HEXSZ)) &&
                   parse_int(value.substr(GIT_OID_HEXSZ + 1), &n)) {
            base.retired.emplace_back(std::string(value.substr(0, GIT_OID_HEXSZ)), n);
        } else {
            return std::nullopt;
        }
    }
    if (first || base.hash.empty() || base.refs.empty())
        return std::nullopt;
    return base;
}

std::string manifest_text(const PublishedBase &base) {
    std::string out(kManifestMagic);
    if (!base.filter.empty())
        out += "\nfilter " + base.filter;
    out += "\npack " + base.hash + "\nstamp " + base.stamp + "\ntime " + std::to_string(base.time) +
           "\nobjects " + std::to_string(base.objects) + "\nsize " +
           std::to_string(base.pack_size) + "\n";
    for (const auto &[name, oid] : base.refs)
        out += "ref " + oid_hex(oid) + " " + name + "\n";
    for (const auto &[hash, when] : base.retired)
        out += "retired " + hash + " " + std::to_string(when) + "\n";
    return out;
}

void make_folder(const std::string &path) {
    if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST)
        fail("cannot create", path, errno);
}

void sync_file(int fd, const std::string &path) {
    if (::fsync(fd) != 0)
        fail("cannot sync", path, errno);
}

void rename_into_place(const std::string &from, const std::string &to) {
    if (::rename(from.c_str(), to.c_str()) != 0)
        fail("cannot rename to", to, errno);
}

// text into tmp, synced, then renamed to dest.
void write_file(const std::string &tmp, std::string_view text, const std::string &dest) {
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (fd.get() < 0)
        fail("cannot create", tmp, errno);
    if (!write_all(fd.get(), text))
        fail("cannot write", tmp, errno);
    sync_file(fd.get(), tmp);
    rename_into_place(tmp, dest);
}

// Removes the files of folder whose names remove(name) says.
template <typename Pred> void remove_files(const std::string &folder, Pred &&remove) {
    DIR *d = ::opendir(folder.c_str());
    if (!d)
        return;
    std::vector<std::string> names;
    while (const dirent *e = ::readdir(d))
        if (remove(std::string_view(e->d_name)))
            names.emplace_back(e->d_name);
    ::closedir(d);
    for (const std::string &n : names)
        ::unlink((folder + "/" + n).c_str());
}

std::string pack_name(std::string_view hash) {
    return "pack-" + std::string(hash) + ".pack";
}

std::string bundle_name(std::string_view hash) {
    return "bundle-" + std::string(hash) + ".bundle";
}

struct Written {
    std::string hash;
    uint64_t objects = 0;
    uint64_t size = 0;
};

// The pack of everything wants reach, bare, into fd.
Written write_pack(RepoAccess &access, const std::vector<git_oid> &wants,
                   const pack::ObjectFilter &filter, int fd, const std::string &path) {
    PackSection section(access.git(), access.snapshot().packs(),
                        pack_input(access, wants, {}, false, nullptr, filter),
                        pack::PackOptions{true, false}, false, 0);
    section.start(nullptr, nullptr);
    std::vector<uint8_t> buf(1u << 20);
    uint8_t tail[20];
    uint64_t total = 0;
    std::string spill;
    while (!section.finished()) {
        const size_t n = section.produce(buf.data(), buf.size(), &spill);
        if (!spill.empty())
            throw Error("a bare pack with text beside it");
        if (!write_all(fd, std::string_view(reinterpret_cast<const char *>(buf.data()), n)))
            fail("cannot write", path, errno);
        // The checksum is the pack's last 20 bytes, which may span writes.
        if (n >= sizeof tail) {
            std::memcpy(tail, buf.data() + n - sizeof tail, sizeof tail);
        } else if (n > 0) {
            std::memmove(tail, tail + n, sizeof tail - n);
            std::memcpy(tail + sizeof tail - n, buf.data(), n);
        }
        total += n;
    }
    if (total < 12 + sizeof tail)
        throw Error("the base pack came out too short");
    Written w;
    git_oid id;
    std::memcpy(id.id, tail, sizeof tail);
    w.hash = oid_hex(id);
    w.objects = section.stats() ? section.stats()->objects : 0;
    w.size = total;
    return w;
}

// Copies len bytes of from (at 0) to the end of to: in the kernel where the
// file system can, else through a buffer.
void copy_file(int from, int to, uint64_t len, const std::string &path) {
    loff_t in = 0;
    bool kernel = true;
    std::vector<char> buf;
    while (len > 0) {
        ssize_t k;
        if (kernel) {
            k = ::copy_file_range(from, &in, to, nullptr, len, 0);
            if (k < 0 && (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP ||
                          errno == EPERM || errno == EINVAL)) {
                kernel = false;
                buf.resize(1u << 20);
                continue;
            }
        } else {
            k = ::pread(from, buf.data(), std::min<uint64_t>(len, buf.size()), in);
            if (k > 0 && !write_all(to, std::string_view(buf.data(), size_t(k))))
                fail("cannot copy the pack into", path, errno);
            if (k > 0)
                in += k;
        }
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            fail("cannot copy the pack into", path, k < 0 ? errno : EIO);
        len -= uint64_t(k);
    }
}

std::string stamp_hex(const RepoSnapshot &snapshot) {
    const std::string &s = snapshot.stamp();
    static const char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : s) {
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

// What git clone asks for by default: HEAD, the branches and the tags.
// Other refs (refs/pull/*, refs/notes/*, as forges keep them) stay out of a
// base, so that a plain clone can take it; a mirror clone gets them inline.
bool cloned(const Ref &ref) {
    return !ref.unborn && (ref.name == "HEAD" || ref.name.starts_with("refs/heads/") ||
                           ref.name.starts_with("refs/tags/"));
}

// The refs a base bundles, HEAD included (as git bundle --all lists it).
std::vector<std::pair<std::string, git_oid>> bundle_refs(const RepoSnapshot &snapshot) {
    std::vector<std::pair<std::string, git_oid>> refs;
    for (const Ref &ref : snapshot.refs())
        if (cloned(ref))
            refs.emplace_back(ref.name, ref.oid);
    return refs;
}

bool same_refs(const std::vector<std::pair<std::string, git_oid>> &a,
               const std::vector<std::pair<std::string, git_oid>> &b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const auto &x, const auto &y) {
        return x.first == y.first && git_oid_equal(&x.second, &y.second);
    });
}

bool wants_every_ref(const RepoSnapshot &snapshot, const std::vector<git_oid> &wants) {
    const UniqueOids set(wants);
    for (const git_oid &oid : clone_refs(snapshot))
        if (!set.contains(oid))
            return false;
    return true;
}

// What a publisher that died left, which the lock's holder removes: tmp-
// files (a publish under way: only the lock's holder makes them), and named
// files that the manifest does not name, current or retired (renamed before
// the manifest was; never given out).
void remove_leftovers(const std::string &folder, const std::optional<PublishedBase> &named) {
    std::vector<std::string> keep;
    if (named) {
        keep.push_back(named->hash);
        for (const auto &[hash, when] : named->retired)
            keep.push_back(hash);
    }
    remove_files(folder, [&](std::string_view name) {
        if (name.starts_with("tmp-"))
            return true;
        if (!is_published_name(name))
            return false;
        const std::string_view hash = name.substr(name.find('-') + 1, GIT_OID_HEXSZ);
        return std::find(keep.begin(), keep.end(), hash) == keep.end();
    });
}

class Publish {
  public:
    // folder: the repository's, or a filter's under it.
    Publish(RepoAccess &access, const PublishConfig &policy, std::string folder, int64_t now,
            const pack::ObjectFilter &filter)
        : access_(access), policy_(policy), folder_(std::move(folder)), now_(now), filter_(filter) {
    }

    // The new base, or nothing when another process holds the lock.
    std::optional<PublishedBase> run(const std::string &stamp) {
        make_folder(policy_.dir);
        make_folder(publish_folder(policy_.dir, access_.snapshot().path()));
        make_folder(folder_);
        const std::string lock_path = folder_ + "/lock";
        Fd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
        if (lock.get() < 0)
            fail("cannot open", lock_path, errno);
        // flock: the kernel lets go of it when its holder dies.
        if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
            if (errno == EWOULDBLOCK)
                return std::nullopt;
            fail("cannot lock", lock_path, errno);
        }
        std::optional<PublishedBase> previous = read_published(folder_);
        PublishedBase base;
        base.refs = bundle_refs(access_.snapshot());
        if (previous && same_refs(previous->refs, base.refs))
            return previous; // published meanwhile by another process
        // A snapshot that the repository has moved on from since this
        // request read it must not replace a newer base.
        if (!access_.snapshot().unchanged())
            return previous;
        remove_leftovers(folder_, previous);
        if (base.refs.empty())
            return std::nullopt; // nothing to publish: an empty repository
        base.stamp = stamp;
        base.time = now_;
        base.filter = filter_.active() ? filter_spec(filter_) : "";

        const std::string tmp_pack = folder_ + "/tmp-pack-" + std::to_string(::getpid());
        Fd pack(::open(tmp_pack.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
        if (pack.get() < 0)
            fail("cannot create", tmp_pack, errno);
        const Written w =
            write_pack(access_, clone_refs(access_.snapshot()), filter_, pack.get(), tmp_pack);
        sync_file(pack.get(), tmp_pack);
        base.hash = w.hash;
        base.objects = w.objects;
        base.pack_size = w.size;
        test_stall_hook("GSH_TEST_PUBLISH_STALL", access_.snapshot().path(), nullptr);
        // The same objects as the current base (refs renamed, added on
        // commits it has): its files stay as they are, so that a name
        // never names other bytes; the manifest starts its interval again.
        if (previous && previous->hash == base.hash) {
            ::unlink(tmp_pack.c_str());
            base = *previous;
            base.stamp = stamp;
            base.time = now_;
            write_file(folder_ + "/tmp-manifest", manifest_text(base), folder_ + "/manifest");
            return base;
        }

        // A bundle holds whole history: none for a partial clone's base.
        const std::string tmp_bundle = folder_ + "/tmp-bundle-" + std::to_string(::getpid());
        if (!filter_.active()) {
            Fd bundle(::open(tmp_bundle.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
            if (bundle.get() < 0)
                fail("cannot create", tmp_bundle, errno);
            if (!write_all(bundle.get(), base.bundle_header()))
                fail("cannot write", tmp_bundle, errno);
            copy_file(pack.get(), bundle.get(), w.size, tmp_bundle);
            sync_file(bundle.get(), tmp_bundle);
        }
        rename_into_place(tmp_pack, folder_ + "/" + published_pack_name(base));
        if (!filter_.active())
            rename_into_place(tmp_bundle, folder_ + "/" + published_bundle_name(base));

        retire(previous, &base);
        write_file(folder_ + "/tmp-manifest", manifest_text(base), folder_ + "/manifest");
        Fd dir(::open(folder_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (dir.get() >= 0)
            ::fsync(dir.get());
        return base;
    }

  private:
    // The previous base is retired now; bases retired more than the grace
    // period ago lose their files.
    void retire(const std::optional<PublishedBase> &previous, PublishedBase *base) const {
        if (!previous)
            return;
        std::vector<std::pair<std::string, int64_t>> retired = previous->retired;
        if (previous->hash != base->hash)
            retired.emplace_back(previous->hash, now_);
        // At most kMaxRetired kept, the newest, however short the time
        // between publishes (branches rewound again and again).
        const size_t keep_from = retired.size() > kMaxRetired ? retired.size() - kMaxRetired : 0;
        for (size_t i = 0; i < retired.size(); i++) {
            const auto &[hash, when] = retired[i];
            if (hash == base->hash)
                continue;
            if (i >= keep_from && now_ - when < policy_.grace) {
                base->retired.emplace_back(hash, when);
                continue;
            }
            ::unlink((folder_ + "/" + pack_name(hash)).c_str());
            ::unlink((folder_ + "/" + bundle_name(hash)).c_str());
        }
    }

    RepoAccess &access_;
    const PublishConfig &policy_;
    std::string folder_;
    int64_t now_;
    const pack::ObjectFilter &filter_;
};

} // namespace

std::string PublishedBase::bundle_header() const {
    std::string out = "# v2 git bundle\n";
    for (const auto &[name, oid] : refs)
        out += oid_hex(oid) + " " + name + "\n";
    out += "\n";
    return out;
}

std::vector<git_oid> clone_refs(const RepoSnapshot &snapshot) {
    UniqueOids oids;
    for (const Ref &ref : snapshot.refs())
        if (cloned(ref))
            oids.add(ref.oid);
    return oids.take();
}

// A filter's bases' folder under the repository's.
static std::string filter_folder(const std::string &spec) {
    const pack::Sha1::Digest d = pack::Sha1::of(spec.data(), spec.size());
    return "filter-" + pack::Sha1::hex(d).substr(0, 16);
}

std::string publish_folder(const std::string &dir, const std::string &git_dir) {
    const pack::Sha1::Digest d = pack::Sha1::of(git_dir.data(), git_dir.size());
    return dir + "/" + pack::Sha1::hex(d).substr(0, 16);
}

std::optional<PublishedBase> read_published(const std::string &folder) {
    return parse_manifest(read_small_file(folder + "/manifest"));
}

bool base_within(git_repository *repo, const pack::CommitGraph *graph, const PublishedBase &base,
                 const std::vector<git_oid> &wants) {
    const UniqueOids wanted(wants);
    CommitCache commits(repo, graph);
    // The base's refs that are not wanted themselves must be commits found
    // by the walk.
    OidHashSet missing;
    int64_t oldest = INT64_MAX;
    for (const auto &[name, oid] : base.refs) {
        if (wanted.contains(oid))
            continue;
        const CommitInfo *c = commits.get(oid);
        if (!c)
            return false; // a tag, tree or blob no one wants any more
        missing.insert(oid);
        oldest = std::min<int64_t>(oldest, c->time);
    }
    if (missing.empty())
        return true;
    using Item = std::pair<int64_t, git_oid>;
    auto older = [](const Item &a, const Item &b) { return a.first < b.first; };
    std::priority_queue<Item, std::vector<Item>, decltype(older)> queue(older);
    OidHashSet seen;
    auto push = [&](const git_oid &id) {
        if (!seen.insert(id).second)
            return;
        if (const CommitInfo *c = commits.get(id))
            queue.emplace(c->time, id);
    };
    for (const git_oid &w : wants)
        if (std::optional<git_oid> c = peel_to_commit(repo, w))
            push(*c);
    while (!queue.empty()) {
        const auto [time, id] = queue.top();
        queue.pop();
        if (time < oldest - kDateSlop)
            return false;
        if (missing.erase(id) && missing.empty())
            return true;
        const CommitInfo *c = commits.get(id);
        for (const git_oid &p : c->parents)
            push(p);
    }
    return false;
}

std::optional<PublishedBase> current_base(RepoAccess &access, const PublishConfig &policy,
                                          int64_t now, const std::vector<git_oid> &wants,
                                          std::string *warning, const pack::ObjectFilter &filter) {
    if (policy.dir.empty())
        return std::nullopt;
    const RepoSnapshot &snapshot = access.snapshot();
    if (!publishable(filter))
        return std::nullopt;
    std::string folder = publish_folder(policy.dir, snapshot.path());
    if (filter.active())
        folder += "/" + filter_folder(filter_spec(filter));
    const std::string stamp = stamp_hex(snapshot);
    const pack::CommitGraph *graph = pack::usable_commit_graph(access.git(), *snapshot.packs());
    auto within = [&](const PublishedBase &b) {
        return base_within(access.git(), graph, b, wants);
    };
    std::optional<PublishedBase> base = read_published(folder);
    bool usable = false;
    if (base) {
        usable = within(*base);
        // A base that a clone of every ref cannot use (a ref rewound or
        // deleted since) is replaced at once; one that is merely old, once
        // interval has passed.
        const bool changed = !same_refs(base->refs, bundle_refs(snapshot));
        const bool due = changed && (now - base->time >= policy.interval ||
                                     (!usable && wants_every_ref(snapshot, wants)));
        if (!due)
            return usable ? base : std::nullopt;
    }
    // When a publish last failed, as its mark says.
    const std::string failed = folder + "/failed";
    int64_t failed_at = 0;
    std::string mark = read_small_file(failed);
    if (!mark.empty() && parse_int(mark.substr(0, mark.find('\n')), &failed_at) &&
        now - failed_at >= 0 &&
        now - failed_at < std::min<int64_t>(policy.interval, kFailedBackoff))
        return usable ? base : std::nullopt;
    try {
        if (std::optional<PublishedBase> fresh =
                Publish(access, policy, folder, now, filter).run(stamp)) {
            if (!mark.empty())
                ::unlink(failed.c_str());
            return within(*fresh) ? fresh : std::nullopt;
        }
    } catch (const std::exception &e) {
        *warning = std::string("publishing a base pack failed: ") + e.what();
        // Marked where it can be (not when the folder cannot be made).
        Fd fd(::open(failed.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
        if (fd.get() >= 0)
            (void)write_all(fd.get(), std::to_string(now) + "\n");
    }
    return usable ? base : std::nullopt;
}

std::string published_pack_name(const PublishedBase &base) {
    return pack_name(base.hash);
}

std::string published_pack_path(const PublishedBase &base) {
    if (base.filter.empty())
        return published_pack_name(base);
    return filter_folder(base.filter) + "/" + published_pack_name(base);
}

bool publishable(const pack::ObjectFilter &filter) {
    return !filter.active() || filter.kind == pack::ObjectFilter::Kind::BlobNone;
}

std::string filter_spec(const pack::ObjectFilter &f) {
    using Kind = pack::ObjectFilter::Kind;
    switch (f.kind) {
    case Kind::None:
        return "";
    case Kind::BlobNone:
        return "blob:none";
    case Kind::BlobLimit:
        return "blob:limit=" + std::to_string(f.value);
    case Kind::TreeDepth:
        return "tree:" + std::to_string(f.value);
    case Kind::ObjectType:
        return std::string("object:type=") + git_object_type2string(f.type);
    case Kind::SparseOid:
        return "sparse:oid=" + f.sparse_oid;
    case Kind::Combine:
        break;
    }
    std::string out = "combine:";
    for (size_t i = 0; i < f.subs.size(); i++)
        out += (i ? "+" : "") + filter_spec(f.subs[i]);
    return out;
}

std::string published_bundle_name(const PublishedBase &base) {
    return bundle_name(base.hash);
}

std::string bundle_list_config(const PublishedBase &base, std::string_view base_url) {
    // Quoted, as git config reads values: a ';' or '#' would start a
    // comment.
    std::string uri;
    for (char c : std::string(base_url) + published_bundle_name(base)) {
        if (c == '"' || c == '\\')
            uri += '\\';
        uri += c;
    }
    return "[bundle]\n\tversion = 1\n\tmode = all\n[bundle \"" + base.hash + "\"]\n\turi = \"" +
           uri + "\"\n";
}

std::vector<std::string> bundle_list_lines(const PublishedBase &base, std::string_view base_url) {
    return {"bundle.version=1", "bundle.mode=all",
            "bundle." + base.hash + ".uri=" + std::string(base_url) + published_bundle_name(base)};
}

bool is_published_name(std::string_view name) {
    auto named = [&](std::string_view prefix, std::string_view suffix) {
        return name.size() == prefix.size() + GIT_OID_HEXSZ + suffix.size() &&
               name.starts_with(prefix) && name.ends_with(suffix) &&
               is_hex40(name.substr(prefix.size(), GIT_OID_HEXSZ));
    };
    return named("pack-", ".pack") || named("bundle-", ".bundle");
}

} // namespace gsh
