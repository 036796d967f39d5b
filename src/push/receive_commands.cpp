#include "push/receive_commands.h"

#include <algorithm>
#include <cstring>
#include <string_view>

#include "util/error.h"
#include "util/hex.h"
#include "util/oid_hex.h"

namespace gsh {

namespace {

constexpr size_t kReadChunk = 64 * 1024;

[[noreturn]] void bad_request(const std::string &why) {
    throw Error(why, 400);
}

// Whether a space-separated feature list names feature; *value gets what
// follows "feature=" when there is one.
bool feature(std::string_view list, std::string_view name, std::string *value = nullptr) {
    while (!list.empty()) {
        const size_t sp = list.find(' ');
        std::string_view word = list.substr(0, sp);
        if (word == name)
            return true;
        if (word.size() > name.size() && word.starts_with(name) && word[name.size()] == '=') {
            if (value)
                *value = std::string(word.substr(name.size() + 1));
            return true;
        }
        if (sp == std::string_view::npos)
            break;
        list.remove_prefix(sp + 1);
    }
    return false;
}

} // namespace

bool PktStream::fill(size_t n) {
    while (buf_.size() - pos_ < n) {
        if (pos_ > 0) {
            buf_.erase(0, pos_);
            pos_ = 0;
        }
        const size_t have = buf_.size();
        buf_.resize(have + kReadChunk);
        const size_t got = in_.read(buf_.data() + have, kReadChunk);
        buf_.resize(have + got);
        if (got == 0)
            return false;
    }
    return true;
}

proto::PktKind PktStream::next(std::string *data) {
    data->clear();
    if (!fill(4)) {
        if (buf_.size() == pos_)
            return proto::PktKind::End;
        bad_request("protocol error: the request ends inside a pkt-line length");
    }
    size_t len = 0;
    for (size_t i = 0; i < 4; i++) {
        const int v = hex_value(buf_[pos_ + i]);
        if (v < 0)
            bad_request("protocol error: bad line length character: " + buf_.substr(pos_, 4));
        len = len * 16 + static_cast<size_t>(v);
    }
    switch (len) {
    case 0:
        pos_ += 4;
        return proto::PktKind::Flush;
    case 1:
        pos_ += 4;
        return proto::PktKind::Delim;
    case 2:
        pos_ += 4;
        return proto::PktKind::ResponseEnd;
    case 3:
        bad_request("protocol error: bad line length 3");
    default:
        break;
    }
    if (len > proto::kMaxPktLen)
        bad_request("protocol error: bad line length " + std::to_string(len));
    if (!fill(len))
        bad_request("protocol error: the request ends inside a pkt-line");
    data->assign(buf_, pos_ + 4, len - 4);
    pos_ += len;
    if (!data->empty() && data->back() == '\n')
        data->pop_back();
    return proto::PktKind::Data;
}

size_t PktStream::read_raw(void *buf, size_t cap) {
    if (pos_ < buf_.size()) {
        const size_t n = std::min(cap, buf_.size() - pos_);
        std::memcpy(buf, buf_.data() + pos_, n);
        pos_ += n;
        if (pos_ == buf_.size()) {
            buf_.clear();
            buf_.shrink_to_fit();
            pos_ = 0;
        }
        return n;
    }
    return in_.read(buf, cap);
}

bool ReceiveRequest::pack_expected() const {
    return std::any_of(commands.begin(), commands.end(),
                       [](const RefCommand &c) { return !c.is_delete(); });
}

ReceiveRequest read_receive_request(PktStream &in, bool allow_push_options, size_t max_bytes) {
    ReceiveRequest req;
    size_t total = 0;
    std::string line;
    auto next = [&](const char *section) {
        const proto::PktKind kind = in.next(&line);
        if (kind == proto::PktKind::End)
            bad_request(
                std::string("protocol error: the request ends before the flush after the ") +
                section);
        if (kind != proto::PktKind::Data && kind != proto::PktKind::Flush)
            bad_request(std::string("protocol error: unexpected special packet in the ") + section);
        total += line.size() + 4;
        if (total > max_bytes)
            throw Error("the commands of the push are larger than " + std::to_string(max_bytes) +
                            " bytes",
                        413);
        return kind == proto::PktKind::Data;
    };
    bool first = true;
    while (next("commands")) {
        if (line.starts_with("shallow ")) {
            git_oid oid;
            if (!parse_oid(std::string_view(line).substr(8), &oid))
                bad_request("protocol error: expected shallow sha, got '" + line + "'");
            req.shallow_lines++;
            continue;
        }
        if (line.starts_with("push-cert"))
            bad_request("protocol error: push certificates are not supported");
        std::string_view text(line);
        std::string_view features;
        const size_t nul = text.find('\0');
        if (nul != std::string_view::npos) {
            features = text.substr(nul + 1);
            text = text.substr(0, nul);
        }
        RefCommand cmd;
        // An empty name is a command as git reads it (refused later as a
        // funny refname), not a protocol error.
        if (text.size() < 82 || text[40] != ' ' || text[81] != ' ' ||
            !parse_oid(text.substr(0, 40), &cmd.old_id) ||
            !parse_oid(text.substr(41, 40), &cmd.new_id))
            bad_request("protocol error: expected old/new/ref, got '" + std::string(text) + "'");
        cmd.ref = std::string(text.substr(82));
        if (first && nul != std::string_view::npos) {
            req.report_status = feature(features, "report-status");
            req.report_status_v2 = feature(features, "report-status-v2");
            req.side_band_64k = feature(features, "side-band-64k");
            req.quiet = feature(features, "quiet");
            req.atomic = feature(features, "atomic");
            req.push_options = allow_push_options && feature(features, "push-options");
            feature(features, "agent", &req.agent);
            std::string format;
            if (feature(features, "object-format", &format) && format != "sha1")
                bad_request("unsupported object format '" + format + "'");
        }
        first = false;
        req.commands.push_back(std::move(cmd));
    }
    if (req.push_options)
        while (next("push options"))
            req.options.push_back(line);
    return req;
}

} // namespace gsh
