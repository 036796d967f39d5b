#include "protocol/filter.h"

#include "util/hex.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <strings.h>

namespace gsh::pack {

namespace {

constexpr const char *kReservedNonWs = "~`!@#$^&*()[]{}\\;'\",<>?";

// git_parse_ulong(): strtoumax in base 0 (so 0x10 and 010 too), an optional
// k/m/g suffix, no minus sign anywhere.
bool parse_ulong(const std::string &value, uint64_t *out) {
    if (value.empty() || value.find('-') != std::string::npos)
        return false;
    errno = 0;
    char *end = nullptr;
    const unsigned long long v = std::strtoull(value.c_str(), &end, 0);
    if (errno == ERANGE || end == value.c_str())
        return false;
    uint64_t factor = 0;
    if (!*end)
        factor = 1;
    else if (!strcasecmp(end, "k"))
        factor = 1024;
    else if (!strcasecmp(end, "m"))
        factor = 1024 * 1024;
    else if (!strcasecmp(end, "g"))
        factor = 1024 * 1024 * 1024;
    if (!factor || (v && factor > UINT64_MAX / v))
        return false;
    *out = v * factor;
    return true;
}

// url_percent_decode(): %XX decoded unless malformed or %00; '+' stays.
std::string percent_decode(std::string_view in) {
    std::string out;
    for (size_t i = 0; i < in.size(); i++) {
        if (in[i] == '%' && i + 2 < in.size()) {
            const int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
            if (hi >= 0 && lo >= 0 && (hi || lo)) {
                out.push_back(char(hi * 16 + lo));
                i += 2;
                continue;
            }
        }
        out.push_back(in[i]);
    }
    return out;
}

bool parse_combine(std::string_view arg, ObjectFilter *out, std::string *error) {
    // strbuf_split_str(arg, '+'): pieces that end with their '+', which
    // every piece but the last then loses ("a+" stays "a+").
    std::vector<std::string_view> pieces;
    while (!arg.empty()) {
        const size_t plus = arg.find('+');
        const size_t len = plus == std::string_view::npos ? arg.size() : plus + 1;
        pieces.push_back(arg.substr(0, len));
        arg.remove_prefix(len);
    }
    for (size_t i = 0; i + 1 < pieces.size(); i++)
        pieces[i].remove_suffix(1);
    if (pieces.empty()) {
        *error = "expected something after combine:";
        return false;
    }
    for (std::string_view piece : pieces) {
        for (char c : piece) {
            if (static_cast<unsigned char>(c) <= ' ' || std::strchr(kReservedNonWs, c)) {
                *error = std::string("must escape char in sub-filter-spec: '") + c + "'";
                return false;
            }
        }
        ObjectFilter sub;
        if (!parse_filter(percent_decode(piece), &sub, error))
            return false;
        out->subs.push_back(std::move(sub));
    }
    out->kind = ObjectFilter::Kind::Combine;
    return true;
}

} // namespace

bool ObjectFilter::per_object() const {
    switch (kind) {
    case Kind::None:
    case Kind::BlobNone:
    case Kind::BlobLimit:
    case Kind::ObjectType:
        return true;
    case Kind::Combine:
        for (const ObjectFilter &s : subs)
            if (!s.per_object())
                return false;
        return true;
    default:
        return false;
    }
}

bool ObjectFilter::by_content() const {
    if (kind == Kind::SparseOid)
        return false;
    return std::all_of(subs.begin(), subs.end(),
                       [](const ObjectFilter &s) { return s.by_content(); });
}

bool parse_filter(std::string_view spec, ObjectFilter *out, std::string *error) {
    *out = ObjectFilter();
    const std::string arg(spec);
    auto after = [&](std::string_view prefix, std::string *rest) {
        if (!spec.starts_with(prefix))
            return false;
        *rest = std::string(spec.substr(prefix.size()));
        return true;
    };
    std::string v;
    if (arg == "blob:none") {
        out->kind = ObjectFilter::Kind::BlobNone;
        return true;
    }
    if (after("blob:limit=", &v)) {
        if (parse_ulong(v, &out->value)) {
            out->kind = ObjectFilter::Kind::BlobLimit;
            return true;
        }
    } else if (after("tree:", &v)) {
        if (!parse_ulong(v, &out->value)) {
            *error = "expected 'tree:<depth>'";
            return false;
        }
        out->kind = ObjectFilter::Kind::TreeDepth;
        return true;
    } else if (after("sparse:oid=", &v)) {
        out->sparse_oid = v;
        out->kind = ObjectFilter::Kind::SparseOid;
        return true;
    } else if (after("sparse:path=", &v)) {
        *error = "sparse:path filters support has been dropped";
        return false;
    } else if (after("object:type=", &v)) {
        static const std::pair<const char *, git_object_t> kTypes[] = {
            {"commit", GIT_OBJECT_COMMIT},
            {"tree", GIT_OBJECT_TREE},
            {"blob", GIT_OBJECT_BLOB},
            {"tag", GIT_OBJECT_TAG}};
        for (const auto &[name, type] : kTypes) {
            if (v == name) {
                out->type = type;
                out->kind = ObjectFilter::Kind::ObjectType;
                return true;
            }
        }
        *error = "'" + v + "' for 'object:type=<type>' is not a valid object type";
        return false;
    } else if (after("combine:", &v)) {
        if (parse_combine(v, out, error))
            return true;
        *out = ObjectFilter();
        return false;
    }
    *error = "invalid filter-spec '" + arg + "'";
    *out = ObjectFilter();
    return false;
}

const char *filter_config_name(ObjectFilter::Kind kind) {
    switch (kind) {
    case ObjectFilter::Kind::BlobNone:
        return "blob:none";
    case ObjectFilter::Kind::BlobLimit:
        return "blob:limit";
    case ObjectFilter::Kind::TreeDepth:
        return "tree";
    case ObjectFilter::Kind::SparseOid:
        return "sparse:oid";
    case ObjectFilter::Kind::ObjectType:
        return "object:type";
    case ObjectFilter::Kind::Combine:
        return "combine";
    default:
        return "";
    }
}

std::string filter_refusal(const FilterPolicy &policy, const ObjectFilter &filter) {
    const std::string name = filter_config_name(filter.kind);
    bool allowed = policy.fallback;
    for (const auto &[key, allow] : policy.allowed)
        if (key == name)
            allowed = allow; // the last setting wins
    if (!allowed)
        return "filter '" + name + "' not supported";
    if (filter.kind == ObjectFilter::Kind::TreeDepth && filter.value > policy.tree_max_depth)
        return "tree filter allows max depth " + std::to_string(policy.tree_max_depth) +
               ", but got " + std::to_string(filter.value);
    for (const ObjectFilter &sub : filter.subs)
        if (std::string why = filter_refusal(policy, sub); !why.empty())
            return why;
    return std::string();
}

} // namespace gsh::pack
