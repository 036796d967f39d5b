#include "service/dumb_http.h"
#include "util/oid_hex.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <memory>
#include <string_view>

namespace gsh {

namespace {

struct DirCloser {
    void operator()(DIR *d) const { closedir(d); }
};

} // namespace

std::string dumb_info_refs(const std::vector<Ref> &refs) {
    std::string out;
    for (const Ref &r : refs) {
        if (r.unborn || !std::string_view(r.name).starts_with("refs/"))
            continue;
        out += oid_hex(r.oid);
        out += '\t';
        out += r.name;
        out += '\n';
        if (r.peeled) {
            out += oid_hex(*r.peeled);
            out += '\t';
            out += r.name;
            out += "^{}\n";
        }
    }
    return out;
}

std::string dumb_head(const std::vector<Ref> &refs) {
    if (refs.empty() || refs.front().name != "HEAD" || refs.front().unborn)
        return "";
    const Ref &head = refs.front();
    if (!head.symref_target.empty())
        return "ref: " + head.symref_target + "\n";
    return oid_hex(head.oid) + "\n";
}

std::string dumb_info_packs(const std::string &objects_dir) {
    const std::string dir = objects_dir + "/pack";
    struct Pack {
        std::string name;
        time_t mtime;
    };
    std::vector<Pack> packs;
    std::unique_ptr<DIR, DirCloser> d(opendir(dir.c_str()));
    if (d) {
        while (const dirent *e = readdir(d.get())) {
            std::string_view name = e->d_name;
            if (!name.ends_with(".idx"))
                continue;
            std::string pack(name.substr(0, name.size() - 4));
            pack += ".pack";
            struct stat st;
            if (stat((dir + "/" + pack).c_str(), &st) != 0 || !S_ISREG(st.st_mode))
                continue;
            packs.push_back({std::move(pack), st.st_mtime});
        }
    }
    std::sort(packs.begin(), packs.end(), [](const Pack &a, const Pack &b) {
        return a.mtime != b.mtime ? a.mtime > b.mtime : a.name < b.name;
    });
    std::string out;
    for (const Pack &p : packs)
        out += "P " + p.name + "\n";
    out += '\n';
    return out;
}

} // namespace gsh
