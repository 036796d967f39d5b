#include "service/upload_pack_v2.h"

#include <algorithm>
#include <ctime>
#include <memory>
#include <string_view>
#include <vector>

#include "odb/object_db.h"
#include "protocol/pkt_line.h"
#include "protocol/section_writer.h"
#include "repo/commits.h"
#include "repo/refs.h"
#include "repo/unique_oids.h"
#include "service/object_info.h"
#include "service/publish.h"
#include "service/session_id.h"
#include "service/upload_pack_common.h"
#include "util/error.h"
#include "util/git_ptr.h"
#include "walk/negotiation.h"
#include "walk/object_walk.h"
#include "walk/shallow.h"

namespace gsh {

namespace {

[[noreturn]] void bad_request(const std::string &why) {
    throw Error(why, 400);
}

// The capability lines a client may send with a command: those the server
// advertises that are not commands (git's receive_client_capability()), each
// alone or with "=value".
void check_capabilities(const proto::V2Request &req, const UploadPackConfig &config) {
    auto is = [](std::string_view c, std::string_view name) {
        return c.starts_with(name) && (c.size() == name.size() || c[name.size()] == '=');
    };
    for (const std::string &cap : req.capabilities) {
        std::string_view c = cap;
        if (is(c, "agent") || is(c, "server-option") ||
            (is(c, "session-id") && config.advertise_sid))
            continue;
        if (c == "object-format")
            bad_request("object-format capability requires an argument");
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

    // Made in place: 50,000 refs are 2.7 MB of lines.
    std::string out;
    out.reserve(repo.refs().size() * 80 + 4);
    char hex[GIT_OID_HEXSZ + 1];
    for (const Ref &ref : repo.refs()) {
        if (!matches(ref.name))
            continue;
        if (ref.unborn && !(unborn && symrefs))
            continue;
        const size_t start = proto::pkt_begin_line(out);
        if (ref.unborn) {
            out += "unborn ";
        } else {
            out.append(git_oid_tostr(hex, sizeof hex, &ref.oid), GIT_OID_HEXSZ);
            out += ' ';
        }
        out += ref.name;
        if (symrefs && !ref.symref_target.empty()) {
            out += " symref-target:";
            out += ref.symref_target;
        }
        if (peel && ref.peeled) {
            out += " peeled:";
            out.append(git_oid_tostr(hex, sizeof hex, &*ref.peeled), GIT_OID_HEXSZ);
        }
        proto::pkt_end_line(out, start);
    }
    proto::pkt_flush(out);
    return out;
}

struct FetchArgs {
    UniqueOids wants;
    std::vector<git_oid> haves;
    // want-ref lines in request order (repeats included, as git lists them)
    // with what the refs point at.
    std::vector<std::pair<std::string, git_oid>> wanted_refs;
    ShallowArgs shallow;
    bool done = false, ofs_delta = false, thin_pack = false, no_progress = false,
         include_tag = false;
    bool wait_for_done = false;
    bool sideband_all = false;
    // packfile-uris: the URI protocols the client takes, as sent.
    std::vector<std::string> uri_protocols;
    pack::ObjectFilter filter;
    // git reads the arguments in order and dies at the first want (or
    // filter) it refuses, so later lines do not matter then: the ERR text,
    // and whether sideband-all came before it (the ERR then goes on band 3).
    std::string refusal;
    bool refusal_on_sideband = false;
};

FetchArgs parse_fetch_args(RepoAccess &access, const proto::V2Request &req,
                           const UniqueOids *known) {
    git_repository *repo = access.git();
    const UploadPackConfig &config = access.config();
    OdbPtr odb;
    FetchArgs a;
    auto refuse = [&](std::string why) {
        a.refusal = std::move(why);
        a.refusal_on_sideband = a.sideband_all;
        return a;
    };
    for (const std::string &line : req.args) {
        std::string_view arg = line;
        git_oid oid;
        if (config.allow_filter && arg.starts_with("filter ")) {
            std::string refused;
            parse_filter_line(config, arg.substr(7), &a.filter, &refused);
            if (!refused.empty())
                return refuse(std::move(refused));
            continue;
        }
        // Past an operator's limit the request is refused at once: the
        // arguments after it are not looked at (and not read: see
        // fetch_refusal_stop()).
        if (arg.starts_with("want ")) {
            if (!parse_oid(arg.substr(5), &oid))
                bad_request("protocol error, expected to get oid, not '" + line + "'");
            if (a.wants.contains(oid))
                continue;
            if (std::string err = over_limit(config, a.wants.size() + 1, 0); !err.empty())
                return refuse(std::move(err));
            if (!(known && known->contains(oid)) &&
                !object_exists(repo, *access.snapshot().packs(), &odb, oid))
                return refuse("upload-pack: not our ref " + oid_hex(oid));
            a.wants.add(oid);
        } else if (config.allow_ref_in_want && arg.starts_with("want-ref ")) {
            std::string_view name = arg.substr(9);
            // Hidden refs are not in the snapshot: unknown, as git says.
            const Ref *ref = access.snapshot().find_ref(name);
            if (!ref)
                return refuse("unknown ref " + std::string(name));
            a.wanted_refs.emplace_back(std::string(name), ref->oid);
            if (a.wants.add(ref->oid))
                if (std::string err = over_limit(config, a.wants.size(), 0); !err.empty())
                    return refuse(std::move(err));
        } else if (arg.starts_with("have ")) {
            if (!parse_oid(arg.substr(5), &oid))
                bad_request("expected SHA1 object, got '" + std::string(arg.substr(5)) + "'");
            if (std::string err = over_limit(config, 0, a.haves.size() + 1); !err.empty())
                return refuse(std::move(err));
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
        } else if (config.allow_sideband_all && arg == "sideband-all") {
            a.sideband_all = true;
        } else if (arg.starts_with("packfile-uris ")) {
            // As git: taken whether or not it was advertised, and used only
            // where it is offered.
            std::string_view list = arg.substr(14);
            while (!list.empty()) {
                const size_t comma = std::min(list.find(','), list.size());
                a.uri_protocols.emplace_back(list.substr(0, comma));
                list.remove_prefix(std::min(comma + 1, list.size()));
            }
        } else if (!parse_shallow_line(repo, arg, &a.shallow)) {
            bad_request("unexpected line: '" + line + "'");
        }
    }
    return a;
}

FetchArgs parse_fetch_args(RepoAccess &access, const proto::V2Request &req, PhaseTimes *times,
                           const UniqueOids *known) {
    PhaseTimes::Scope parse(times, Phase::parse);
    return parse_fetch_args(access, req, known);
}

// gitprotocol-v2's order: shallow-info, then wanted-refs. git 2.39 sends
// them the other way round, which its own client refuses ("expected
// 'packfile', received 'shallow-info'"), so a shallow fetch by want-ref
// fails against it. This is the first.
std::optional<ShallowInfo> shallow_info(RepoAccess &access, const std::vector<git_oid> &wants,
                                        const ShallowArgs &args, proto::SectionWriter &w) {
    if (!args.any())
        return std::nullopt;
    ShallowInfo shallow =
        compute_shallow(access.git(), wants, args, access.snapshot().tips(),
                        pack::usable_commit_graph(access.git(), *access.snapshot().packs()));
    w.line("shallow-info");
    for (const git_oid &c : shallow.shallow)
        w.bare("shallow " + oid_hex(c));
    for (const git_oid &c : shallow.unshallow)
        w.bare("unshallow " + oid_hex(c));
    w.delim();
    return shallow;
}

// The published base to give a clone by URI: when the location offers
// packfile-uris, the client takes the URL's protocol, and the request is a
// clone of everything its wants reach (no haves, no shallow), whole or
// partial with a filter that a base can follow (publishable()).
std::optional<PublishedBase> offered_base(RepoAccess &access, const FetchArgs &args,
                                          const std::vector<git_oid> &wants) {
    const PublishConfig &publish = access.config().publish;
    if (!publish.packfile_uris || publish.dir.empty() || args.uri_protocols.empty() ||
        !args.haves.empty() || args.shallow.any() || !publishable(args.filter))
        return std::nullopt;
    const bool taken = std::any_of(
        args.uri_protocols.begin(), args.uri_protocols.end(),
        [&](const std::string &p) { return !p.empty() && publish.url.starts_with(p + "://"); });
    if (!taken)
        return std::nullopt;
    std::optional<PublishedBase> base =
        current_base(access, publish, std::time(nullptr), wants, &access.warning, args.filter);
    // include-tag sends the annotated tags of what is sent; one made since
    // the base, on an object of the base, and not wanted itself, would be
    // in neither pack.
    if (base && args.include_tag) {
        UniqueOids known(wants);
        for (const auto &[name, oid] : base->refs)
            known.add(oid);
        for (const Ref &ref : access.snapshot().refs())
            if (ref.peeled && ref.name.starts_with("refs/tags/") && !known.contains(ref.oid))
                return std::nullopt;
    }
    return base;
}

// The packfile-uris section, when a base is offered. The inline pack is
// then what the base lacks, never thin (the client indexes it before it
// downloads the base): what the wants that are not refs of the base reach
// (a want that is a ref of the base reaches nothing outside it), less what
// HEAD and the branches that moved since reached in the base. Not less what
// every ref of the base reaches: each have costs the count a walk to a
// bitmap, for objects that the new commits seldom reach, which the inline
// pack then holds again (the client keeps one copy). Nothing pushed since
// the base: nothing to count.
void packfile_uris(RepoAccess &access, const FetchArgs &args, std::vector<git_oid> *wants,
                   proto::SectionWriter &w, std::vector<git_oid> *haves, bool *thin) {
    const std::optional<PublishedBase> base = offered_base(access, args, *wants);
    if (!base)
        return;
    w.line("packfile-uris");
    w.line(base->hash + " " + access.config().publish.url + published_pack_path(*base));
    w.delim();
    *thin = false;
    UniqueOids in_base;
    for (const auto &[name, oid] : base->refs)
        in_base.add(oid);
    std::erase_if(*wants, [&](const git_oid &w) { return in_base.contains(w); });
    if (wants->empty())
        return;
    for (const auto &[name, oid] : base->refs) {
        const Ref *now = access.snapshot().find_ref(name);
        const bool moved = !now || !git_oid_equal(&now->oid, &oid);
        if (name == "HEAD" || (moved && name.starts_with("refs/heads/")))
            if (std::optional<git_oid> commit = peel_to_commit(access.git(), oid))
                haves->push_back(*commit);
    }
}

std::string fetch(RepoAccess &access, const proto::V2Request &req,
                  std::unique_ptr<PackSection> *pack, bool *refused, PhaseTimes *times,
                  const FetchPrecheck *checked) {
    git_repository *repo = access.git();
    FetchArgs args = parse_fetch_args(access, req, times, checked ? &checked->wants : nullptr);
    // A parse cut short ends at a refusal; anything else would answer part
    // of a request.
    if (req.cut && args.refusal.empty())
        bad_request("protocol error: the request was cut where nothing was refused");
    std::string out;
    proto::SectionWriter w(out);
    if (!args.refusal.empty()) {
        // "unknown ref <name>" quotes the client: git dies when that
        // no longer fits a pkt-line.
        if (args.refusal.size() + 8 > proto::kMaxPktLen)
            bad_request("protocol error: impossibly long line");
        w.set_sideband(args.refusal_on_sideband);
        w.error(args.refusal);
        *refused = true;
        return out;
    }
    w.set_sideband(args.sideband_all);
    // Without wants git has nothing to send, unless wait-for-done says the
    // client negotiates first (then haves alone are acknowledged).
    if (args.wants.empty() && !args.wait_for_done)
        return out;

    const std::vector<git_oid> wants = args.wants.take();
    if (std::optional<git_oid> want = refused_want(access, wants)) {
        w.error("upload-pack: not our ref " + oid_hex(*want));
        *refused = true;
        return out;
    }

    // A clone (no haves, no shallow) negotiates nothing: "not known".
    std::optional<PhaseTimes::Scope> negotiate;
    if (!args.haves.empty() || args.shallow.any())
        negotiate.emplace(times, Phase::negotiate);
    Negotiator neg(repo, wants, pack::usable_commit_graph(repo, *access.snapshot().packs()));
    if (!args.haves.empty()) {
        std::vector<git_oid> common;
        for (const git_oid &h : args.haves)
            if (neg.got(h) != Negotiator::Have::Missing)
                common.push_back(h);
        if (!args.done) {
            w.line("acknowledgments");
            if (common.empty())
                w.line("NAK");
            for (const git_oid &c : common)
                w.line("ACK " + oid_hex(c));
            if (args.wait_for_done || !neg.ok_to_give_up()) {
                w.flush();
                return out;
            }
            w.line("ready");
            w.delim();
        }
    }
    const std::optional<ShallowInfo> shallow = shallow_info(access, wants, args.shallow, w);
    if (!args.wanted_refs.empty()) {
        w.line("wanted-refs");
        for (const auto &[name, oid] : args.wanted_refs)
            w.line(oid_hex(oid) + " " + name);
        w.delim();
    }
    std::vector<git_oid> haves = neg.have_objects();
    bool thin = args.thin_pack;
    std::vector<git_oid> to_send = wants;
    packfile_uris(access, args, &to_send, w, &haves, &thin);
    w.line("packfile");
    *pack = std::make_unique<PackSection>(
        repo, access.snapshot().packs(),
        pack_input(access, std::move(to_send), std::move(haves), args.include_tag,
                   shallow ? &*shallow : nullptr, std::move(args.filter)),
        pack::PackOptions{args.ofs_delta, thin}, !args.no_progress);
    return out;
}

// bundle-uri (gitprotocol-v2, git 2.40 clients): the published base's
// bundle list as key=value lines, or none.
std::string bundle_uri(RepoAccess &access, const proto::V2Request &req) {
    if (!req.args.empty())
        bad_request("bundle-uri: unexpected argument: '" + req.args.front() + "'");
    std::string out;
    const PublishConfig &publish = access.config().publish;
    const std::optional<PublishedBase> base = current_base(
        access, publish, std::time(nullptr), clone_refs(access.snapshot()), &access.warning);
    if (base)
        for (const std::string &line : bundle_list_lines(*base, publish.url))
            proto::pkt_write_line(out, line);
    proto::pkt_flush(out);
    return out;
}

} // namespace

std::string advertise_v2(const UploadPackConfig &config) {
    std::string out;
    proto::pkt_write_line(out, "version 2");
    proto::pkt_write_line(out, std::string("agent=") + kAgent);
    proto::pkt_write_line(out, "ls-refs=unborn");
    std::string fetch = "fetch=shallow wait-for-done";
    if (config.allow_filter)
        fetch += " filter";
    if (config.allow_ref_in_want)
        fetch += " ref-in-want";
    if (config.allow_sideband_all)
        fetch += " sideband-all";
    if (config.publish.packfile_uris && !config.publish.dir.empty())
        fetch += " packfile-uris";
    proto::pkt_write_line(out, fetch);
    proto::pkt_write_line(out, "server-option");
    proto::pkt_write_line(out, "object-format=sha1");
    if (config.advertise_sid)
        proto::pkt_write_line(out, "session-id=" + new_session_id());
    proto::pkt_write_line(out, "object-info");
    if (config.publish.bundle_uri && !config.publish.dir.empty())
        proto::pkt_write_line(out, "bundle-uri");
    proto::pkt_flush(out);
    return out;
}

proto::ArgStop fetch_refusal_stop(RepoAccess &repo, FetchPrecheck &checked) {
    // Counts and looks up as parse_fetch_args() does, as far as its
    // refusals go.
    FetchPrecheck *state = &checked;
    return [&repo, state](const proto::V2Request &req, std::string_view arg) {
        if (req.command != "fetch")
            return false;
        const UploadPackConfig &config = repo.config();
        git_oid oid;
        if (arg.starts_with("want ")) {
            if (!parse_oid(arg.substr(5), &oid) || state->wants.contains(oid))
                return false;
            if (!object_exists(repo.git(), *repo.snapshot().packs(), &state->odb, oid))
                return true; // "not our ref", as git, which reads no further
            state->wants.add(oid);
        } else if (config.allow_ref_in_want && arg.starts_with("want-ref ")) {
            const Ref *ref = repo.snapshot().find_ref(arg.substr(9));
            if (!ref)
                return true; // "unknown ref"
            if (!state->wants.add(ref->oid))
                return false;
        } else if (arg.starts_with("have ")) {
            if (!parse_oid(arg.substr(5), &oid))
                return false;
            return !over_limit(config, 0, ++state->haves).empty();
        } else {
            return false;
        }
        return !over_limit(config, state->wants.size(), 0).empty();
    };
}

std::string answer_v2(RepoAccess &repo, const proto::V2Request &req,
                      std::unique_ptr<PackSection> *pack, bool *refused, PhaseTimes *times,
                      const FetchPrecheck *checked) {
    bool unused = false;
    if (!refused)
        refused = &unused;
    if (req.command.empty())
        return std::string();
    check_capabilities(req, repo.config());
    if (req.command == "ls-refs")
        return ls_refs(repo.snapshot(), req);
    if (req.command == "fetch")
        return fetch(repo, req, pack, refused, times, checked);
    if (req.command == "object-info")
        return object_info(repo.git(), req);
    if (req.command == "bundle-uri" && repo.config().publish.bundle_uri &&
        !repo.config().publish.dir.empty())
        return bundle_uri(repo, req);
    bad_request("invalid command '" + req.command + "'");
}

} // namespace gsh
