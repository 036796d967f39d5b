#include "walk/shallow.h"

#include <algorithm>
#include <charconv>

#include "repo/commits.h"
#include "util/error.h"
#include "util/git_ptr.h"
#include "util/oid_hex.h"

namespace gsh {

namespace {

[[noreturn]] void bad_request(const std::string &why) {
    throw Error(why, 400);
}

// git's get_shallow_commits(): walking down from heads, the commits at
// distance depth - 1 (or deeper along a longer path reached first) are the
// boundary; everything walked above it is not shallow.
void shallow_by_depth(CommitCache &commits, const std::vector<git_oid> &heads, int depth,
                      std::vector<git_oid> *boundary, OidHashSet *not_shallow) {
    std::unordered_map<git_oid, int, OidHash, OidEq> depth_of;
    OidHashSet in_boundary;
    struct Item {
        git_oid id;
        int depth;
    };
    std::vector<Item> stack;
    for (const git_oid &head : heads) {
        depth_of[head] = 0;
        stack.push_back({head, 0});
        while (!stack.empty()) {
            Item item = stack.back();
            stack.pop_back();
            const CommitInfo *info = commits.get(item.id);
            if (!info)
                continue;
            int cur = item.depth + 1;
            if (depth != kInfiniteDepth && cur >= depth) {
                if (in_boundary.insert(item.id).second)
                    boundary->push_back(item.id);
                continue;
            }
            not_shallow->insert(item.id);
            // git continues with the first parent and stacks the others; the
            // depth recorded first for a commit wins unless a shorter path
            // comes later.
            for (auto p = info->parents.rbegin(); p != info->parents.rend(); ++p) {
                auto it = depth_of.find(*p);
                if (it != depth_of.end() && cur >= it->second)
                    continue;
                depth_of[*p] = cur;
                stack.push_back({*p, cur});
            }
        }
    }
}

// git's get_shallow_commits_by_rev_list() for --shallow-since/--shallow-exclude:
// the commits reachable from the wants, newer than since and not reachable
// from the excluded refs; the boundary is those with a parent outside.
void shallow_by_rev_list(CommitCache &commits, const std::vector<git_oid> &wants,
                         const ShallowArgs &args, std::vector<git_oid> *boundary,
                         OidHashSet *not_shallow) {
    OidHashSet excluded;
    std::vector<git_oid> stack(args.deepen_not.begin(), args.deepen_not.end());
    while (!stack.empty()) {
        git_oid id = stack.back();
        stack.pop_back();
        if (!excluded.insert(id).second)
            continue;
        if (const CommitInfo *info = commits.get(id))
            stack.insert(stack.end(), info->parents.begin(), info->parents.end());
    }
    std::vector<git_oid> selected;
    stack = wants;
    while (!stack.empty()) {
        git_oid id = stack.back();
        stack.pop_back();
        if (excluded.count(id) || not_shallow->count(id))
            continue;
        const CommitInfo *info = commits.get(id);
        if (!info || (args.deepen_since && info->time < args.deepen_since))
            continue;
        not_shallow->insert(id);
        selected.push_back(id);
        stack.insert(stack.end(), info->parents.begin(), info->parents.end());
    }
    if (selected.empty())
        bad_request("no commits selected for shallow requests");
    for (const git_oid &id : selected) {
        const CommitInfo *info = commits.get(id);
        if (std::any_of(info->parents.begin(), info->parents.end(),
                        [&](const git_oid &p) { return !not_shallow->count(p); }))
            boundary->push_back(id);
    }
    for (const git_oid &id : *boundary)
        not_shallow->erase(id);
}

// The commits of the client's boundary that our refs reach (deepen-relative),
// in the client's order. One walk down from all tips that ends once every
// shallow is found: a reachability test per shallow and tip made 2,000
// shallows take half a minute.
std::vector<git_oid> reachable_shallows(git_repository *repo, CommitCache &commits,
                                        const UniqueOids &shallows, const std::vector<Tip> &tips) {
    OidHashSet missing(shallows.list().begin(), shallows.list().end());
    OidHashSet found, seen;
    std::vector<git_oid> stack;
    for (const Tip &t : tips)
        if (std::optional<git_oid> tip = peel_to_commit(repo, t.oid))
            if (seen.insert(*tip).second)
                stack.push_back(*tip);
    while (!stack.empty() && !missing.empty()) {
        git_oid id = stack.back();
        stack.pop_back();
        if (missing.erase(id))
            found.insert(id);
        if (const CommitInfo *info = commits.get(id))
            for (const git_oid &p : info->parents)
                if (seen.insert(p).second)
                    stack.push_back(p);
    }
    std::vector<git_oid> out;
    for (const git_oid &s : shallows.list())
        if (found.count(s))
            out.push_back(s);
    return out;
}

} // namespace

ShallowInfo compute_shallow(git_repository *repo, const std::vector<git_oid> &wants,
                            const ShallowArgs &args, const std::vector<Tip> &tips,
                            const pack::CommitGraph *graph) {
    if (args.depth > 0 && args.by_rev_list())
        bad_request("git upload-pack: deepen and deepen-since (or deepen-not) cannot be used "
                    "together");
    ShallowInfo info;
    CommitCache commits(repo, graph);
    OidHashSet not_shallow;
    std::vector<git_oid> heads;
    for (const git_oid &w : wants)
        if (std::optional<git_oid> c = peel_to_commit(repo, w))
            heads.push_back(*c);

    if (args.depth == kInfiniteDepth) {
        not_shallow.insert(args.client_shallows.list().begin(), args.client_shallows.list().end());
    } else if (args.depth > 0 && args.deepen_relative) {
        shallow_by_depth(commits, reachable_shallows(repo, commits, args.client_shallows, tips),
                         args.depth + 1, &info.shallow, &not_shallow);
    } else if (args.depth > 0) {
        shallow_by_depth(commits, heads, args.depth, &info.shallow, &not_shallow);
    } else if (args.by_rev_list()) {
        shallow_by_rev_list(commits, heads, args, &info.shallow, &not_shallow);
    }

    // A boundary the client already has is not news to it.
    info.shallow.erase(std::remove_if(info.shallow.begin(), info.shallow.end(),
                                      [&](const git_oid &c) {
                                          return args.client_shallows.contains(c) ||
                                                 not_shallow.count(c);
                                      }),
                       info.shallow.end());
    info.parentless = info.shallow;
    UniqueOids more_wants;
    for (const git_oid &s : args.client_shallows.list()) {
        if (not_shallow.count(s)) {
            info.unshallow.push_back(s);
            if (const CommitInfo *c = commits.get(s))
                for (const git_oid &p : c->parents)
                    more_wants.add(p);
            info.more_haves.push_back(s);
        }
        info.parentless.push_back(s);
    }
    info.more_wants = more_wants.take();
    return info;
}

bool parse_shallow_line(git_repository *repo, std::string_view line, ShallowArgs *args) {
    if (line.starts_with("shallow ")) {
        git_oid oid;
        if (!parse_oid(line.substr(8), &oid))
            bad_request("invalid shallow line: " + std::string(line));
        git_odb *odb_raw = nullptr;
        git_check(git_repository_odb(&odb_raw, repo), "opening the object database");
        OdbPtr odb(odb_raw);
        size_t len;
        git_object_t type;
        if (git_odb_read_header(&len, &type, odb.get(), &oid) != 0)
            return true; // git ignores a boundary it does not know
        if (type != GIT_OBJECT_COMMIT)
            bad_request("invalid shallow object " + oid_hex(oid));
        args->client_shallows.add(oid);
        return true;
    }
    if (line.starts_with("deepen ")) {
        std::string_view num = line.substr(7);
        int depth = 0;
        auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), depth);
        if (ec != std::errc() || end != num.data() + num.size() || depth <= 0)
            bad_request("Invalid deepen: " + std::string(line));
        args->depth = depth;
        return true;
    }
    if (line.starts_with("deepen-since ")) {
        std::string_view num = line.substr(13);
        unsigned long long since = 0;
        auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), since);
        if (ec != std::errc() || end != num.data() + num.size() || since == 0)
            bad_request("Invalid deepen-since: " + std::string(line));
        args->deepen_since = git_time_t(since);
        return true;
    }
    if (line.starts_with("deepen-not ")) {
        // git's expand_ref(): the name must match exactly one ref by the
        // usual rules (name, refs/name, refs/tags/, refs/heads/, refs/remotes/).
        std::string name(line.substr(11));
        std::vector<git_oid> found;
        for (const char *fmt : {"%s", "refs/%s", "refs/tags/%s", "refs/heads/%s", "refs/remotes/%s",
                                "refs/remotes/%s/HEAD"}) {
            std::string full(fmt);
            full.replace(full.find("%s"), 2, name);
            git_oid oid;
            if (git_reference_name_to_id(&oid, repo, full.c_str()) == 0)
                found.push_back(oid);
        }
        if (found.size() != 1)
            bad_request("git upload-pack: ambiguous deepen-not: " + std::string(line));
        if (std::optional<git_oid> c = peel_to_commit(repo, found[0]))
            args->deepen_not.push_back(*c);
        return true;
    }
    if (line == "deepen-relative") {
        args->deepen_relative = true;
        return true;
    }
    return false;
}

} // namespace gsh
