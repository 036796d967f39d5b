// Published base packs, for packfile-uris and bundle-uri: per repository, a
// pack of everything its refs reached at one moment, and the same pack as a
// bundle, each named by the pack's checksum so that a URI never changes
// meaning and any HTTP cache may keep it for good. The clones that follow
// download the base from wherever its URI points and take only what is
// newer from the origin.
//
// Layout under the operator's folder, one folder per repository:
//   <dir>/<16 hex digits>/manifest              the current base (replaced by rename)
//   <dir>/<16 hex digits>/pack-<hash>.pack      the base pack
//   <dir>/<16 hex digits>/bundle-<hash>.bundle  "# v2 git bundle", its refs, the pack
//   <dir>/<16 hex digits>/tmp-*                 a publish under way (never served)
// A file gets its name only once it is whole and synced, and the manifest
// names a base only once both of its files have theirs: a publisher killed
// at any point leaves only tmp- files, which the next publisher removes.
#pragma once

#include <git2.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocol/filter.h"
#include "repo/upload_pack_config.h"

namespace gsh {

class RepoAccess;
class RepoSnapshot;

namespace pack {
class CommitGraph;
}

struct PublishedBase {
    std::string hash;                                  // the pack's checksum, 40 hex digits
    std::vector<std::pair<std::string, git_oid>> refs; // the bundle's refs
    std::string stamp;    // the repository's stamp when published (hex)
    int64_t time = 0;     // when published, seconds since the epoch
    // The filter of a partial clone's base, as filter_spec() writes it;
    // "" for a whole one.
    std::string filter;
    uint64_t objects = 0; // in the pack
    uint64_t pack_size = 0;
    // Bases replaced, with when: their files go once grace has passed.
    std::vector<std::pair<std::string, int64_t>> retired;

    // The bundle file's header: everything before the pack.
    std::string bundle_header() const;
};

// The repository's folder under dir: its git directory's path, hashed.
std::string publish_folder(const std::string &dir, const std::string &git_dir);

// The base the folder's manifest names, or nothing (none yet, or a manifest
// that does not read as one: treated as none).
std::optional<PublishedBase> read_published(const std::string &folder);

// Whether everything base's refs reach is within what wants reach, so that
// a client given the base lacks nothing and got nothing extra: each ref a
// want itself, or a commit that a walk from the wanted commits finds. The
// walk goes newest first and stops once every such commit is found, or once
// every commit left is a day older than the oldest not found (commit dates,
// as git's own walks trust them).
bool base_within(git_repository *repo, const pack::CommitGraph *graph, const PublishedBase &base,
                 const std::vector<git_oid> &wants);

// What a clone wants by default, without repeats: the objects of HEAD,
// the branches and the tags. A base holds these refs and no others.
std::vector<git_oid> clone_refs(const RepoSnapshot &snapshot);

// The base to offer a request of access's repository for wants, when
// base_within() says it fits them: the current one, or a new one published
// now when there is none, when the current one is due (policy.interval
// passed and the refs changed since), or when a request for every ref
// cannot use it (a ref rewound or deleted). Another process publishing the
// same repository at that moment is not waited for. A publish that fails
// (a full disk, no permission) says why in *warning and leaves nothing that
// is served. now: seconds since the epoch.
// A partial clone's filter (publishable() ones) has bases of its own, in a
// folder of their own under the repository's, and no bundle.
std::optional<PublishedBase> current_base(RepoAccess &access, const PublishConfig &policy,
                                          int64_t now, const std::vector<git_oid> &wants,
                                          std::string *warning,
                                          const pack::ObjectFilter &filter = pack::ObjectFilter());

// Whether a request with this filter may be given a base: none, or one that
// keeps or drops each object by its type and size alone (blob:none,
// blob:limit, object:type), so that a base and what it lacks add up to
// exactly what the filter keeps.
bool publishable(const pack::ObjectFilter &filter);

// A filter as a base's manifest names it.
std::string filter_spec(const pack::ObjectFilter &filter);

// The names of a base's files in its folder, and at the URL base of the
// URIs given out.
std::string published_pack_name(const PublishedBase &base);
// The base pack's path under the repository's folder (and its URL under
// the published files' URL): a filtered base's folder, then its name.
std::string published_pack_path(const PublishedBase &base);
std::string published_bundle_name(const PublishedBase &base);

// The bundle list (git config format, bundle.mode=all) that names base's
// bundle at base_url, for GET .../published/bundle-list; and the same keys
// as the v2 bundle-uri command's key=value lines.
std::string bundle_list_config(const PublishedBase &base, std::string_view base_url);
std::vector<std::string> bundle_list_lines(const PublishedBase &base, std::string_view base_url);

// Whether name is the name of a published file (pack-<hex>.pack,
// bundle-<hex>.bundle): only those are ever served.
bool is_published_name(std::string_view name);

} // namespace gsh
