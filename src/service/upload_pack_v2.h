// upload-pack over protocol v2: capability advertisement, ls-refs, fetch.
#pragma once

#include <git2.h>

#include <memory>
#include <string>

#include "protocol/v2_request.h"
#include "repo/repo_access.h"
#include "repo/unique_oids.h"
#include "repo/upload_pack_config.h"
#include "service/pack_section.h"
#include "util/git_ptr.h"

namespace gsh {

// Body of GET info/refs?service=git-upload-pack with Git-Protocol: version=2:
// what git 2.39 advertises with the repository's configuration.
std::string advertise_v2(const UploadPackConfig &config);

// What fetch_refusal_stop() found while the request was parsed: the wants
// it looked up, which exist in the snapshot. answer_v2() does not look them
// up again (a clone of 50,000 refs names as many wants).
struct FetchPrecheck {
    OdbPtr odb;
    UniqueOids wants;
    size_t haves = 0;
};

// Answers a v2 request. The returned text is sent first; when a pack
// follows, *pack is set and streams the rest of the response.
// Requests that break the protocol throw gsh::Error(400); refusals the client
// shows ("ERR upload-pack: not our ref ...") are part of the returned text,
// and set *refused when given.
// times, when given, gets the parse of a fetch's arguments and its
// negotiation (haves, shallow); checked, when given, what the parse found.
std::string answer_v2(RepoAccess &repo, const proto::V2Request &req,
                      std::unique_ptr<PackSection> *pack, bool *refused = nullptr,
                      PhaseTimes *times = nullptr, const FetchPrecheck *checked = nullptr);

// Stops the parse of a fetch at the argument answer_v2() refuses, as git
// stops reading there: a want we lack ("not our ref") or an unknown
// want-ref, the want that makes one distinct want too many or the have that
// makes one have too many (git_smart_http_max_wants, max_haves). repo and
// checked (which it fills) must outlive the parse.
proto::ArgStop fetch_refusal_stop(RepoAccess &repo, FetchPrecheck &checked);

} // namespace gsh
