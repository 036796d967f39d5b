#include "repo/repo_snapshot.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <string_view>

#include "util/sha1.h"

namespace gsh {

RepoSnapshot::RefStamps RepoSnapshot::RefStamps::of(const std::string &path) {
    RefStamps s;
    s.config = FileStamp::of(path + "/config");
    s.head = FileStamp::of(path + "/HEAD");
    s.packed_refs = FileStamp::of(path + "/packed-refs");
    s.loose = FolderStamp::of(path + "/refs", "", true, true);
    return s;
}

RepoSnapshot::PackStamps RepoSnapshot::PackStamps::of(std::vector<std::string> folders) {
    PackStamps s;
    s.folders = std::move(folders);
    for (const std::string &f : s.folders) {
        s.packs.push_back(FolderStamp::of(f + "/pack", "pack-", false, false));
        s.alternates.push_back(FileStamp::of(f + "/info/alternates"));
    }
    return s;
}

namespace {

// As PackSet names it.
std::string objects_folder(git_repository *repo) {
    std::string dir = git_repository_commondir(repo);
    if (!dir.empty() && dir.back() != '/')
        dir += '/';
    return dir + "objects";
}

// malloc's bookkeeping per allocation, about.
constexpr size_t kChunk = 16;

size_t heap_bytes(const std::string &s) {
    return s.capacity() > 15 ? s.capacity() + 1 + kChunk : 0; // else inline
}

template <typename T> size_t heap_bytes(const std::vector<T> &v) {
    return v.capacity() ? v.capacity() * sizeof(T) + kChunk : 0;
}

size_t stamps_bytes(const FolderStamp &f) {
    size_t n = heap_bytes(f.entries);
    for (const auto &e : f.entries)
        n += heap_bytes(e.name);
    return n;
}

int64_t now_ns() {
    struct timespec t;
    ::clock_gettime(CLOCK_REALTIME, &t);
    return int64_t(t.tv_sec) * 1000000000 + t.tv_nsec;
}

// Whether a file stamped at t, read at began, could still change within
// t's tick (RepoSnapshot::kRacyWindowNs).
bool racy_time(int64_t t, int64_t began, int64_t window) {
    if (window && t % 1000000000 == 0)
        window = RepoSnapshot::kRacyCoarseNs;
    return t >= began - window;
}

// The bitmapped commits a .bitmap holds: the entry count of its header
// (git's bitmap-format: "BITM", version, options, count, checksum).
uint32_t bitmap_entries(const std::string &path) {
    uint8_t head[12];
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    const bool ok = ::pread(fd, head, sizeof head, 0) == ssize_t(sizeof head);
    ::close(fd);
    if (!ok)
        return 0;
    return uint32_t(head[8]) << 24 | uint32_t(head[9]) << 16 | uint32_t(head[10]) << 8 | head[11];
}

// A PackSet as its use builds it (odb/pack_index.h, odb/bitmap_index.h):
// without a .rev, an offset, an index position and a bucket start per
// object for the order by offset; a rank per object; the first .bitmap
// read whole, its four type bitmaps and each commit's bitmap decoded.
size_t packs_bytes(const pack::PackSet &packs) {
    size_t n = sizeof(pack::PackSet);
    bool bitmap_seen = false;
    for (size_t i = 0; i < packs.size(); i++) {
        const pack::PackIndex &p = packs[i];
        n += sizeof(pack::PackIndex) + heap_bytes(p.pack_path()) + 3 * kChunk;
        n += size_t(p.count()) * (p.has_reverse_index() ? 4 : 20);
        if (bitmap_seen)
            continue;
        const std::string &pack = p.pack_path();
        const std::string bitmap = pack.substr(0, pack.size() - 5) + ".bitmap";
        struct stat st;
        if (::stat(bitmap.c_str(), &st) < 0)
            continue;
        bitmap_seen = true;
        const size_t bits_bytes = (size_t(p.count()) + 63) / 64 * 8 + kChunk;
        n += size_t(st.st_size) + (4 + size_t(bitmap_entries(bitmap))) * (bits_bytes + 48);
    }
    return n;
}

size_t refs_bytes(const std::vector<Ref> &refs) {
    size_t n = heap_bytes(refs);
    for (const Ref &r : refs)
        n += heap_bytes(r.name) + heap_bytes(r.symref_target);
    return n;
}

} // namespace

bool RepoSnapshot::RefStamps::racy(int64_t began, int64_t window) const {
    const auto racy = [&](int64_t mtime, int64_t ctime) {
        return racy_time(mtime, began, window) || racy_time(ctime, began, window);
    };
    for (const FileStamp *f : {&config, &head, &packed_refs})
        if (f->exists && racy(f->mtime_ns, f->ctime_ns))
            return true;
    for (const FolderStamp::Entry &e : loose.entries)
        if (e.mtime_ns && racy(e.mtime_ns, e.ctime_ns)) // folders have no times here
            return true;
    return false;
}

// Every stamp is taken before what it stands for is read: a change made
// while reading shows at the next check, never the other way round.
std::shared_ptr<const RepoSnapshot> RepoSnapshot::read(const std::string &path,
                                                       git_repository *repo,
                                                       const RepoSnapshot *previous,
                                                       int64_t racy_window_ns) {
    std::shared_ptr<RepoSnapshot> s(new RepoSnapshot());
    s->path_ = path;
    const int64_t began = now_ns();
    s->ref_stamps_ = RefStamps::of(path);
    s->racy_ = s->ref_stamps_.racy(began, racy_window_ns);
    s->config_ = load_upload_pack_config(repo);
    RefListing listing = list_refs_and_tips(repo, s->config_.hidden);
    s->refs_ = std::move(listing.refs);
    s->tips_ = std::move(listing.tips);

    std::vector<std::string> folders =
        previous ? previous->pack_stamps_.folders : std::vector<std::string>{objects_folder(repo)};
    for (;;) {
        s->pack_stamps_ = PackStamps::of(folders);
        if (previous && previous->packs_ && s->pack_stamps_ == previous->pack_stamps_) {
            s->packs_ = previous->packs_;
            break;
        }
        s->packs_ = std::make_shared<const pack::PackSet>(repo);
        if (s->packs_->object_folders() == folders)
            break;
        // Other alternates than those stamped: stamp those, read again.
        folders = s->packs_->object_folders();
        previous = nullptr;
    }
    s->packs_bytes_ = previous && s->packs_ == previous->packs_ ? previous->packs_bytes_
                                                                : packs_bytes(*s->packs_);
    s->fixed_bytes_ = sizeof(RepoSnapshot) + heap_bytes(s->path_) + refs_bytes(s->refs_) +
                      heap_bytes(s->tips_) + stamps_bytes(s->ref_stamps_.loose) +
                      sizeof(UploadPackConfig) + 1024;
    for (const FolderStamp &f : s->pack_stamps_.packs)
        s->fixed_bytes_ += stamps_bytes(f);
    return s;
}

bool RepoSnapshot::current() const {
    return !racy_ && unchanged();
}

bool RepoSnapshot::unchanged() const {
    return RefStamps::of(path_) == ref_stamps_ &&
           PackStamps::of(pack_stamps_.folders) == pack_stamps_;
}

const Ref *RepoSnapshot::find_ref(std::string_view name) const {
    // HEAD comes first, the rest in name order (list_refs).
    auto begin = refs_.begin();
    if (begin != refs_.end() && begin->name == "HEAD") {
        if (name == "HEAD")
            return begin->unborn ? nullptr : &*begin;
        ++begin;
    }
    auto it = std::lower_bound(begin, refs_.end(), name,
                               [](const Ref &r, std::string_view n) { return r.name < n; });
    return it != refs_.end() && it->name == name ? &*it : nullptr;
}

const std::string &RepoSnapshot::stamp() const {
    return memo(kCacheStamp, [this] {
        pack::Sha1 h;
        auto text = [&h](std::string_view t) {
            const uint64_t n = t.size();
            h.update(&n, sizeof n);
            h.update(t.data(), t.size());
        };
        text(path_);
        // The configuration by its file: it does not change what a pack
        // holds, but an operator who edits it expects answers made anew.
        const FileStamp &c = ref_stamps_.config;
        const int64_t config[] = {c.exists, int64_t(c.dev), int64_t(c.ino), int64_t(c.size),
                                  c.mtime_ns, c.ctime_ns};
        h.update(config, sizeof config);
        for (const Ref &r : refs_) {
            text(r.name);
            text(r.symref_target);
            const uint8_t flags = uint8_t(r.unborn) | uint8_t(r.peeled ? 2 : 0);
            h.update(&flags, 1);
            h.update(r.oid.id, GIT_OID_RAWSZ);
            if (r.peeled)
                h.update(r.peeled->id, GIT_OID_RAWSZ);
        }
        for (const Tip &t : tips_) {
            h.update(t.oid.id, GIT_OID_RAWSZ);
            h.update(&t.hidden, 1);
        }
        for (size_t i = 0; i < pack_stamps_.folders.size(); ++i) {
            text(pack_stamps_.folders[i]);
            for (const FolderStamp::Entry &e : pack_stamps_.packs[i].entries) {
                text(e.name);
                h.update(&e.size, sizeof e.size);
            }
        }
        const pack::Sha1::Digest d = h.final();
        return std::string(reinterpret_cast<const char *>(d.data()), d.size());
    });
}

const std::string &RepoSnapshot::memo(Memo slot, const std::function<std::string()> &make) const {
    std::call_once(memo_once_[slot], [&] {
        memo_[slot] = make();
        memo_bytes_.fetch_add(heap_bytes(memo_[slot]), std::memory_order_relaxed);
    });
    return memo_[slot];
}

} // namespace gsh
