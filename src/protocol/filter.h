// Object filters of partial clone (git rev-list --filter=...): the spec a
// client sends, parsed as git parses it, and what upload-pack's
// configuration allows of it.
#pragma once

#include <git2.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gsh::pack {

struct ObjectFilter {
    enum class Kind { None, BlobNone, BlobLimit, TreeDepth, SparseOid, ObjectType, Combine };
    Kind kind = Kind::None;
    uint64_t value = 0; // blob:limit bytes, tree:<depth>
    git_object_t type = GIT_OBJECT_INVALID;
    std::string sparse_oid; // the blob-ish as the client named it
    std::vector<ObjectFilter> subs;

    bool active() const { return kind != Kind::None; }
    // Whether the filter depends only on each object (type, size) and never
    // on the path or depth it is reached by.
    bool per_object() const;
    // Whether what the filter keeps follows from the objects alone: not
    // sparse:oid, whose blob-ish may name a ref.
    bool by_content() const;
    bool operator==(const ObjectFilter &) const = default;
};

// git's gently_parse_list_objects_filter(): false with git's message in
// *error for a malformed spec.
bool parse_filter(std::string_view spec, ObjectFilter *out, std::string *error);

// The name uploadpackfilter.<name>.allow uses ("blob:none", "tree", ...).
const char *filter_config_name(ObjectFilter::Kind kind);

// uploadpackfilter.* of a repository.
struct FilterPolicy {
    bool fallback = true; // uploadpackfilter.allow
    std::vector<std::pair<std::string, bool>> allowed;
    uint64_t tree_max_depth = UINT64_MAX;
};

// The text git's upload-pack dies with ("filter 'tree' not supported",
// "tree filter allows max depth 1, but got 2") when the policy refuses the
// filter or one of its sub-filters, or "".
std::string filter_refusal(const FilterPolicy &policy, const ObjectFilter &filter);

} // namespace gsh::pack
