// What upload-pack does the same way in every protocol version.
#pragma once

#include <git2.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pack/pack_stream.h"
#include "protocol/agent.h"
#include "repo/repo_access.h"
#include "repo/upload_pack_config.h"
#include "util/oid_hex.h"
#include "walk/shallow.h"

namespace gsh {

// The want git would answer with "ERR upload-pack: not our ref <oid>": the
// first one the repository lacks, else the first the client may not have.
std::optional<git_oid> refused_want(RepoAccess &repo, const std::vector<git_oid> &wants);

// The ERR text when a request has more wants or haves than the operator
// allows, or "". Parsers check it as each want or have arrives and stop
// reading there, so the rest of an oversized request costs nothing.
std::string over_limit(const UploadPackConfig &config, size_t wants, size_t haves);

// What the pack holds: wants minus what the haves reach, and with
// include_tag the annotated tags of what is sent; a shallow fetch adds the
// deepened commits' parents and edges and ends the walk at its boundaries.
pack::EnumerateInput pack_input(const RepoAccess &repo, std::vector<git_oid> wants,
                                std::vector<git_oid> haves, bool include_tag,
                                const ShallowInfo *shallow, pack::ObjectFilter filter);

// A "filter <spec>" request line, as git's upload-pack reads it: a second
// filter or a malformed spec is a protocol error (throws gsh::Error(400),
// git dies); a spec the repository's uploadpackfilter.* refuses sets
// *refused to the ERR text git sends.
void parse_filter_line(const UploadPackConfig &config, std::string_view spec,
                       pack::ObjectFilter *filter, std::string *refused);

} // namespace gsh
