#include "service/upload_pack_v2.h"

#include <algorithm>
#include <string_view>
#include <vector>

#include "protocol/pkt_line.h"
#include "repo/refs.h"
#include "service/negotiation.h"
#include "service/shallow.h"
#include "service/upload_pack_common.h"
#include "util/error.h"

namespace gsh {

namespace {

[[noreturn]] void bad_request(const std::string &why) {
    throw Error(why, 400);
}

// The capability lines a client may send with a command (gitprotocol-v2).
void check_capabilities(const proto::V2Request &req) {
    for (const std::string &cap : req.capabilities) {
        std::string_view c = cap;
        if (c.starts_with("agent=") || c.starts_with("server-option=") ||
            c.starts_with("session-id="))
            continue;
        if (c.starts_with("object-format=")) {
            if (c != "object-format=sha1")
                bad_request("mismatched object format: " + cap);
            continue;
        }
        bad_request("unknown capability '" + cap + "'");
    }
}

std::string ls_refs(const RepoSnapshot &repo, const proto::V2Request &req) {
    bool peel = false, symrefs = false, unborn = false;
    std::vector<std::string> prefixes;
    for (const std::string &arg : req.args) {
        if (arg == "peel")
            peel = true;
        else if (arg == "symrefs")
            symrefs = true;
        else if (arg == "unborn")
            unborn = true;
        else if (arg.starts_with("ref-prefix "))
            prefixes.push_back(arg.substr(11));
        else
            bad_request("unexpected line: '" + arg + "'");
    }
    // As git: too many prefixes is the same as none.
    if (prefixes.size() >= 65536)
        prefixes.clear();
    auto matches = [&](const std::string &name) {
        return prefixes.empty() ||
               std::any_of(prefixes.begin(), prefixes.end(),
                           [&](const std::string &p) { return name.starts_with(p); });
    };

    std::string out;
    for (const Ref &ref : repo.refs()) {
        if (!matches(ref.name))
            continue;
        if (ref.unborn && !(unborn && symrefs))
            continue;
        std::string line = ref.unborn ? "unborn " + ref.name : oid_hex(ref.oid) + " " + ref.name;
        if (symrefs && !ref.symref_target.empty())
            line += " symref-target:" + ref.symref_target;
        if (peel && ref.peeled)
            line += " peeled:" + oid_hex(*ref.peeled);
        proto::pkt_write_line(out, line);
    }
    proto::pkt_flush(out);
    return out;
}

struct FetchArgs {
    std::vector<git_oid> wants;
    std::vector<git_oid> haves;
    ShallowArgs shallow;
    bool done = false, ofs_delta = false, thin_pack = false, no_progress = false,
         include_tag = false;
    bool wait_for_done = false;
    pack::ObjectFilter filter;
    std::string filter_refused; // git's ERR text when the policy refuses it
};

FetchArgs parse_fetch_args(git_repository *repo, const UploadPackConfig &config,
                           const proto::V2Request &req) {
    FetchArgs a;
    for (const std::string &line : req.args) {
        std::string_view arg = line;
        git_oid oid;
        if (parse_shallow_line(repo, arg, &a.shallow))
            continue;
        if (config.allow_filter && arg.starts_with("filter ")) {
            parse_filter_line(config, arg.substr(7), &a.filter, &a.filter_refused);
            if (!a.filter_refused.empty())
                return a; // git dies at this line
            continue;
        }
        if (arg.starts_with("want ")) {
            if (!parse_oid(arg.substr(5), &oid))
                bad_request("protocol error, expected to get oid, not '" + line + "'");
            add_unique(a.wants, oid);
        } else if (arg.starts_with("have ")) {
            if (!parse_oid(arg.substr(5), &oid))
                bad_request("expected SHA1 object, got '" + std::string(arg.substr(5)) + "'");
            a.haves.push_back(oid);
        } else if (arg == "done") {
            a.done = true;
        } else if (arg == "ofs-delta") {
            a.ofs_delta = true;
        } else if (arg == "no-progress") {
            a.no_progress = true;
        } else if (arg == "include-tag") {
            a.include_tag = true;
        } else if (arg == "wait-for-done") {
            a.wait_for_done = true;
        } else if (arg == "thin-pack") {
            a.thin_pack = true;
        } else {
            bad_request("unexpected line: '" + line + "'");
        }
    }
    return a;
}

std::string fetch(RepoAccess &access, const proto::V2Request &req,
                  std::unique_ptr<PackSection> *pack) {
    git_repository *repo = access.git();
    const UploadPackConfig &config = access.config();
    FetchArgs args = parse_fetch_args(repo, config, req);
    std::string out;
    if (!args.filter_refused.empty()) {
        proto::pkt_write(out, "ERR " + args.filter_refused);
        return out;
    }
    if (args.wants.empty())
        return out; // git answers nothing at all

    if (std::string err = over_limit(config, args.wants.size(), args.haves.size()); !err.empty()) {
        proto::pkt_write(out, "ERR " + err);
        return out;
    }
    std::optional<git_oid> refused = refused_want(access, args.wants);
    if (refused) {
        proto::pkt_write(out, "ERR upload-pack: not our ref " + oid_hex(*refused));
        return out;
    }

    Negotiator neg(repo, args.wants);
    if (!args.haves.empty()) {
        std::vector<git_oid> common;
        for (const git_oid &h : args.haves)
            if (neg.got(h) != Negotiator::Have::Missing)
                common.push_back(h);
        if (!args.done) {
            proto::pkt_write_line(out, "acknowledgments");
            if (common.empty())
                proto::pkt_write_line(out, "NAK");
            for (const git_oid &c : common)
                proto::pkt_write_line(out, "ACK " + oid_hex(c));
            if (args.wait_for_done || !neg.ok_to_give_up()) {
                proto::pkt_flush(out);
                return out;
            }
            proto::pkt_write_line(out, "ready");
            proto::pkt_delim(out);
        }
    }
    std::optional<ShallowInfo> shallow;
    if (args.shallow.any()) {
        shallow = compute_shallow(repo, args.wants, args.shallow, access.snapshot().tips());
        proto::pkt_write_line(out, "shallow-info");
        for (const git_oid &c : shallow->shallow)
            proto::pkt_write_line(out, "shallow " + oid_hex(c));
        for (const git_oid &c : shallow->unshallow)
            proto::pkt_write_line(out, "unshallow " + oid_hex(c));
        proto::pkt_delim(out);
    }
    proto::pkt_write_line(out, "packfile");
    *pack = std::make_unique<PackSection>(
        repo, access.snapshot().packs(),
        pack_input(access, args.wants, neg.have_objects(), args.include_tag,
                   shallow ? &*shallow : nullptr, std::move(args.filter)),
        pack::PackOptions{args.ofs_delta, args.thin_pack}, !args.no_progress);
    return out;
}

} // namespace

std::string advertise_v2(bool filter) {
    std::string out;
    proto::pkt_write_line(out, "version 2");
    proto::pkt_write_line(out, std::string("agent=") + kAgent);
    proto::pkt_write_line(out, "ls-refs=unborn");
    proto::pkt_write_line(out, filter ? "fetch=shallow wait-for-done filter"
                                      : "fetch=shallow wait-for-done");
    proto::pkt_write_line(out, "server-option");
    proto::pkt_write_line(out, "object-format=sha1");
    proto::pkt_flush(out);
    return out;
}

std::string answer_v2(RepoAccess &repo, const proto::V2Request &req,
                      std::unique_ptr<PackSection> *pack) {
    if (req.command.empty())
        return std::string();
    check_capabilities(req);
    if (req.command == "ls-refs")
        return ls_refs(repo.snapshot(), req);
    if (req.command == "fetch")
        return fetch(repo, req, pack);
    bad_request("invalid command '" + req.command + "'");
}

} // namespace gsh
