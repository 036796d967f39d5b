#include "service/upload_pack_v0.h"

#include <vector>

#include "odb/object_db.h"
#include "protocol/pkt_line.h"
#include "repo/refs.h"
#include "repo/unique_oids.h"
#include "service/client_note.h"
#include "service/request_summary.h"
#include "service/session_id.h"
#include "service/upload_pack_common.h"
#include "util/error.h"
#include "util/git_ptr.h"
#include "walk/negotiation.h"
#include "walk/object_walk.h"
#include "walk/shallow.h"

namespace gsh {

namespace {

// Side-band pkt-line size of plain "side-band" (DEFAULT_PACKET_MAX in git).
constexpr size_t kSmallPktLen = 1000;

// Whether a space-separated feature list names feature (alone or as feature=...).
bool has_feature(std::string_view features, std::string_view feature) {
    while (!features.empty()) {
        size_t sp = features.find(' ');
        std::string_view word = features.substr(0, sp);
        if (word == feature || (word.starts_with(feature) && word.size() > feature.size() &&
                                word[feature.size()] == '='))
            return true;
        if (sp == std::string_view::npos)
            break;
        features.remove_prefix(sp + 1);
    }
    return false;
}

struct Needs {
    UniqueOids wants;
    ShallowArgs shallow;
    bool multi_ack = false, multi_ack_detailed = false, no_done = false;
    bool ofs_delta = false, thin_pack = false, no_progress = false, include_tag = false;
    bool filter_capability = false;
    size_t sideband = 0;
    pack::ObjectFilter filter;
    // git's ERR text when the filter policy refuses the request, or ours
    // when it has more wants than git_smart_http_max_wants: reading stops there.
    std::string refused;
};

[[noreturn]] void bad_request(const std::string &why) {
    throw Error(why, 400);
}

// The request's lines as the answer reads them, each counted for the log.
struct Lines {
    proto::PktReader &reader;
    RequestSummary *summary;
    std::string *note;

    proto::Pkt next() {
        proto::Pkt pkt = reader.next();
        if (pkt.kind == proto::PktKind::Data) {
            if (summary)
                count_fetch_line(*summary, pkt.data);
            if (note && note->empty())
                note_v0_line(pkt.data, note);
        }
        return pkt;
    }
    bool at_end() { return reader.at_end(); }
};

// git's receive_needs(): want lines (the first with capabilities) up to a flush.
Needs read_needs(RepoAccess &access, Lines &reader) {
    git_repository *repo = access.git();
    const UploadPackConfig &config = access.config();
    Needs n;
    OdbPtr odb;
    for (;;) {
        proto::Pkt pkt = reader.next();
        if (pkt.kind == proto::PktKind::End && n.wants.empty())
            return n;
        if (pkt.kind == proto::PktKind::End)
            bad_request("protocol error: the request ends before the flush after the wants");
        if (pkt.kind != proto::PktKind::Data)
            return n;
        std::string_view line = pkt.data;
        if (parse_shallow_line(repo, line, &n.shallow))
            continue;
        if (line.starts_with("filter ")) {
            if (!n.filter_capability)
                bad_request("git upload-pack: filtering capability not negotiated");
            parse_filter_line(config, line.substr(7), &n.filter, &n.refused);
            if (!n.refused.empty())
                return n; // git dies at this line
            continue;
        }
        git_oid oid;
        if (!line.starts_with("want ") || line.size() < 45 ||
            !parse_oid(line.substr(5, 40), &oid) || (line.size() > 45 && line[45] != ' '))
            bad_request("git upload-pack: protocol error, expected to get object ID, not '" +
                        std::string(line) + "'");
        std::string_view features = line.size() > 46 ? line.substr(46) : std::string_view();
        if (has_feature(features, "multi_ack_detailed"))
            n.multi_ack_detailed = n.multi_ack = true;
        else if (has_feature(features, "multi_ack"))
            n.multi_ack = true;
        n.no_done |= has_feature(features, "no-done");
        n.ofs_delta |= has_feature(features, "ofs-delta");
        n.thin_pack |= has_feature(features, "thin-pack");
        if (has_feature(features, "side-band-64k"))
            n.sideband = proto::kMaxPktLen;
        else if (has_feature(features, "side-band") && n.sideband == 0)
            n.sideband = kSmallPktLen;
        n.no_progress |= has_feature(features, "no-progress");
        n.include_tag |= has_feature(features, "include-tag");
        n.shallow.deepen_relative |= has_feature(features, "deepen-relative");
        n.filter_capability |= config.allow_filter && has_feature(features, "filter");
        // As git's receive_needs(): a want we lack ends the request at its
        // line, and so does one past the operator's limit; the rest of the
        // request is not read.
        if (n.wants.contains(oid))
            continue;
        if (!object_exists(repo, *access.snapshot().packs(), &odb, oid)) {
            n.refused = "upload-pack: not our ref " + oid_hex(oid);
            return n;
        }
        n.wants.add(oid);
        if (std::string err = over_limit(config, n.wants.size(), 0); !err.empty()) {
            n.refused = std::move(err);
            return n;
        }
    }
}

// git's send_shallow_list(): the boundary right after the wants, when a
// deepening asked for one.
void send_shallow_list(const ShallowArgs &args, const ShallowInfo &shallow, std::string &out) {
    if (args.depth <= 0 && !args.by_rev_list())
        return;
    // git writes these two without '\n'.
    for (const git_oid &c : shallow.shallow)
        proto::pkt_write(out, "shallow " + oid_hex(c));
    for (const git_oid &c : shallow.unshallow)
        proto::pkt_write(out, "unshallow " + oid_hex(c));
    proto::pkt_flush(out);
}

// git's get_common_commits() over one stateless request: the haves up to a
// flush (the end of this round) or "done" (the pack follows).
struct CommonCommits {
    CommonCommits(git_repository *repo, const std::vector<git_oid> &wants, const Needs &needs,
                  const pack::CommitGraph *graph)
        : neg(repo, wants, graph), needs(needs) {}

    Negotiator neg;
    const Needs &needs;
    bool got_common = false, got_other = false, sent_ready = false;
    std::string last_hex;
    size_t haves = 0;

    // Whether the pack follows: after "done", or a flush that no-done ends.
    bool run(Lines &reader, const UploadPackConfig &config, std::string &out, bool *refused);
    // The end of a round; true when no-done lets the pack follow at once.
    bool flush(std::string &out);
    // One "have" line and the ACK it earns, if any.
    void have(std::string_view line, std::string &out);
};

bool CommonCommits::run(Lines &reader, const UploadPackConfig &config, std::string &out,
                        bool *refused) {
    for (;;) {
        proto::Pkt pkt = reader.next();
        if (pkt.kind == proto::PktKind::End)
            return false; // git dies: the remote end hung up unexpectedly
        if (pkt.kind != proto::PktKind::Data)
            return flush(out);
        std::string_view line = pkt.data;
        if (line.starts_with("have ")) {
            if (std::string err = over_limit(config, 0, ++haves); !err.empty()) {
                proto::pkt_write(out, "ERR " + err);
                *refused = true;
                return false;
            }
            have(line, out);
            continue;
        }
        if (line == "done") {
            if (neg.have_objects().empty())
                proto::pkt_write_line(out, "NAK");
            else if (needs.multi_ack)
                proto::pkt_write_line(out, "ACK " + last_hex);
            return true;
        }
        bad_request("git upload-pack: expected SHA1 list, got '" + std::string(line) + "'");
    }
}

bool CommonCommits::flush(std::string &out) {
    if (needs.multi_ack_detailed && got_common && !got_other && neg.ok_to_give_up()) {
        sent_ready = true;
        proto::pkt_write_line(out, "ACK " + last_hex + " ready");
    }
    if (neg.have_objects().empty() || needs.multi_ack)
        proto::pkt_write_line(out, "NAK");
    if (needs.no_done && sent_ready) {
        proto::pkt_write_line(out, "ACK " + last_hex);
        return true;
    }
    return false; // stateless: the client sends the next round in a new request
}

void CommonCommits::have(std::string_view line, std::string &out) {
    git_oid oid;
    if (line.size() < 45 || !parse_oid(line.substr(5, 40), &oid))
        bad_request("git upload-pack: expected SHA1 object, got '" + std::string(line.substr(5)) +
                    "'");
    std::string hex = oid_hex(oid);
    if (neg.got(oid) == Negotiator::Have::Missing) {
        got_other = true;
        if (needs.multi_ack && neg.ok_to_give_up()) {
            if (needs.multi_ack_detailed) {
                sent_ready = true;
                proto::pkt_write_line(out, "ACK " + hex + " ready");
            } else {
                proto::pkt_write_line(out, "ACK " + hex + " continue");
            }
        }
        return;
    }
    got_common = true;
    last_hex = hex;
    if (needs.multi_ack_detailed)
        proto::pkt_write_line(out, "ACK " + hex + " common");
    else if (needs.multi_ack)
        proto::pkt_write_line(out, "ACK " + hex + " continue");
    else if (neg.have_objects().size() == 1)
        proto::pkt_write_line(out, "ACK " + hex);
}

} // namespace

std::string advertise_v0(const RepoSnapshot &repo, bool v1, bool filter) {
    const UploadPackConfig &config = repo.config();
    std::string out;
    if (v1)
        proto::pkt_write_line(out, "version 1");
    const std::vector<Ref> &refs = repo.refs();
    bool first = true;
    for (const Ref &ref : refs) {
        if (ref.unborn)
            continue;
        std::string line = oid_hex(ref.oid) + " " + ref.name;
        if (first) {
            line.push_back('\0');
            line += "multi_ack thin-pack side-band side-band-64k ofs-delta shallow "
                    "deepen-since deepen-not deepen-relative no-progress include-tag "
                    "multi_ack_detailed";
            if (config.allow_uor & kAllowTipSha1)
                line += " allow-tip-sha1-in-want";
            if (config.allow_uor & kAllowReachableSha1)
                line += " allow-reachable-sha1-in-want";
            line += " no-done";
            if (refs.front().name == "HEAD" && !refs.front().symref_target.empty())
                line += " symref=HEAD:" + refs.front().symref_target;
            if (filter)
                line += " filter";
            if (config.advertise_sid)
                line += " session-id=" + new_session_id();
            line += std::string(" object-format=sha1 agent=") + kAgent;
            first = false;
        }
        proto::pkt_write_line(out, line);
        if (ref.peeled)
            proto::pkt_write_line(out, oid_hex(*ref.peeled) + " " + ref.name + "^{}");
    }
    proto::pkt_flush(out);
    return out;
}

std::string answer_v0(RepoAccess &access, std::string_view body, std::unique_ptr<PackSection> *pack,
                      bool *refused) {
    proto::PktReader reader(body);
    return answer_v0(access, reader, pack, refused, nullptr, nullptr);
}

std::string answer_v0(RepoAccess &access, proto::PktReader &body,
                      std::unique_ptr<PackSection> *pack, bool *refused, RequestSummary *summary,
                      std::string *note, PhaseTimes *times) {
    bool unused = false;
    if (!refused)
        refused = &unused;
    git_repository *repo = access.git();
    const UploadPackConfig &config = access.config();
    Lines reader{body, summary, note};
    Needs needs = [&] {
        PhaseTimes::Scope parse(times, Phase::parse);
        return read_needs(access, reader);
    }();
    std::string out;
    if (!needs.refused.empty()) {
        proto::pkt_write(out, "ERR " + needs.refused);
        *refused = true;
        return out;
    }
    if (needs.wants.empty())
        return out;
    const std::vector<git_oid> wants = needs.wants.take();
    if (std::optional<git_oid> want = refused_want(access, wants)) {
        proto::pkt_write(out, "ERR upload-pack: not our ref " + oid_hex(*want));
        *refused = true;
        return out;
    }
    // The haves are read as they are answered: their parse is negotiation.
    PhaseTimes::Scope negotiate(times, Phase::negotiate);
    std::optional<ShallowInfo> shallow;
    if (needs.shallow.any()) {
        shallow = compute_shallow(repo, wants, needs.shallow, access.snapshot().tips(),
                                  pack::usable_commit_graph(repo, *access.snapshot().packs()));
        send_shallow_list(needs.shallow, *shallow, out);
    }
    // Wants alone, then the end of the body: the client only wanted the
    // shallow list, and a stateless server stops here.
    if (reader.at_end())
        return out;
    CommonCommits common(repo, wants, needs,
                         pack::usable_commit_graph(repo, *access.snapshot().packs()));
    if (!common.run(reader, config, out, refused))
        return out;
    *pack = std::make_unique<PackSection>(
        repo, access.snapshot().packs(),
        pack_input(access, wants, common.neg.have_objects(), needs.include_tag,
                   shallow ? &*shallow : nullptr, std::move(needs.filter)),
        pack::PackOptions{needs.ofs_delta, needs.thin_pack}, !needs.no_progress, needs.sideband);
    return out;
}

} // namespace gsh
