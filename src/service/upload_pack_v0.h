// upload-pack over protocol v0 and v1 (gitprotocol-pack, stateless RPC as
// gitprotocol-http describes it).
#pragma once

#include <git2.h>

#include <memory>
#include <string>
#include <string_view>

#include "protocol/pkt_line.h"
#include "repo/repo_access.h"
#include "service/pack_section.h"
#include "service/request_summary.h"

namespace gsh {

// The ref advertisement as upload-pack --advertise-refs writes it (after the
// "# service=" lines HTTP adds): "version 1" first when v1 was asked for;
// filter: the filter capability is offered.
std::string advertise_v0(const RepoSnapshot &repo, bool v1, bool filter);

// Answers one stateless-RPC request: the wants, then haves with ACK/NAK as
// git answers them for multi_ack, multi_ack_detailed and no-done; when the
// negotiation ends, *pack is set and streams the pack. Requests that break
// the protocol throw gsh::Error(400). An ERR line the client shows sets
// *refused when given.
std::string answer_v0(RepoAccess &repo, std::string_view body, std::unique_ptr<PackSection> *pack,
                      bool *refused = nullptr);
// The same, reading the request from body only as far as the answer needs
// (as git, a want we lack or one past a limit ends it there); each line read
// is counted into *summary, and the client's session-id noted in *note,
// when given. times, when given, gets the want lines' parse and the
// negotiation (shallow, haves and ACK/NAK) that follows.
std::string answer_v0(RepoAccess &repo, proto::PktReader &body, std::unique_ptr<PackSection> *pack,
                      bool *refused, RequestSummary *summary, std::string *note,
                      PhaseTimes *times = nullptr);

} // namespace gsh
