#include "service/upload_pack_common.h"

#include <algorithm>

#include "repo/refs.h"
#include "repo/unique_oids.h"
#include "util/error.h"
#include "walk/negotiation.h"

namespace gsh {

std::optional<git_oid> refused_want(RepoAccess &repo, const std::vector<git_oid> &wants) {
    if (std::optional<git_oid> missing = first_missing(repo.git(), *repo.snapshot().packs(), wants))
        return missing;
    return first_forbidden_want(repo.git(), wants, repo.snapshot().tips(), repo.config().allow_uor);
}

std::string over_limit(const UploadPackConfig &config, size_t wants, size_t haves) {
    if (config.max_wants && wants > config.max_wants)
        return "upload-pack: too many wants (the limit is " + std::to_string(config.max_wants) +
               ")";
    if (config.max_haves && haves > config.max_haves)
        return "upload-pack: too many haves (the limit is " + std::to_string(config.max_haves) +
               ")";
    return std::string();
}

pack::EnumerateInput pack_input(const RepoAccess &repo, std::vector<git_oid> wants,
                                std::vector<git_oid> haves, bool include_tag,
                                const ShallowInfo *shallow, pack::ObjectFilter filter) {
    pack::EnumerateInput input;
    input.filter = std::move(filter);
    input.haves = std::move(haves);
    if (shallow) {
        UniqueOids all(wants);
        for (const git_oid &w : shallow->more_wants)
            all.add(w);
        wants = all.take();
        input.haves.insert(input.haves.end(), shallow->more_haves.begin(),
                           shallow->more_haves.end());
        input.parentless = shallow->parentless;
    }
    input.wants = std::move(wants);
    if (include_tag)
        for (const Ref &ref : repo.snapshot().refs())
            if (ref.peeled && ref.name.starts_with("refs/tags/"))
                input.include_tags.push_back(ref.oid);
    return input;
}

void parse_filter_line(const UploadPackConfig &config, std::string_view spec,
                       pack::ObjectFilter *filter, std::string *refused) {
    if (filter->active())
        throw Error("multiple filter-specs cannot be combined", 400);
    std::string error;
    if (!pack::parse_filter(spec, filter, &error))
        throw Error(error, 400);
    if (refused->empty())
        *refused = pack::filter_refusal(config.filter_policy, *filter);
}

} // namespace gsh
