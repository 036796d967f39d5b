#include "repo/repo_snapshot.h"

#include <algorithm>

namespace gsh {

RepoSnapshot::RefStamps RepoSnapshot::RefStamps::of(const std::string &path) {
    RefStamps s;
    s.config = FileStamp::of(path + "/config");
    s.head = FileStamp::of(path + "/HEAD");
    s.packed_refs = FileStamp::of(path + "/packed-refs");
    s.loose = FolderStamp::of(path + "/refs", "", true);
    return s;
}

RepoSnapshot::PackStamps RepoSnapshot::PackStamps::of(std::vector<std::string> folders) {
    PackStamps s;
    s.folders = std::move(folders);
    for (const std::string &f : s.folders) {
        s.packs.push_back(FolderStamp::of(f + "/pack", "pack-", false));
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

} // namespace

// Every stamp is taken before what it stands for is read: a change made
// while reading shows at the next check, never the other way round.
std::shared_ptr<const RepoSnapshot>
RepoSnapshot::read(const std::string &path, git_repository *repo, const RepoSnapshot *previous) {
    std::shared_ptr<RepoSnapshot> s(new RepoSnapshot());
    s->path_ = path;
    s->ref_stamps_ = RefStamps::of(path);
    s->config_ = load_upload_pack_config(repo);
    s->refs_ = list_refs(repo, s->config_.hidden);
    s->tips_ = list_tips(repo, s->config_.hidden);

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
    return s;
}

bool RepoSnapshot::current() const {
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

const std::string &RepoSnapshot::memo(Memo slot, const std::function<std::string()> &make) const {
    std::call_once(memo_once_[slot], [&] { memo_[slot] = make(); });
    return memo_[slot];
}

} // namespace gsh
