// Sessions through the C API, as the module drives them: made, given a
// body, opened, read to the end.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "git_smart_http.h"
#include "protocol/pkt_line.h"

namespace gsh::test {

struct SessionDeleter {
    void operator()(gsh_session *s) const { gsh_session_destroy(s); }
};
using SessionPtr = std::unique_ptr<gsh_session, SessionDeleter>;

// A request of kind for root/repo, exported, with protocol as its
// Git-Protocol header ("" for none). It points into the three strings,
// which must outlive it (no temporaries).
inline gsh_request make_request(const std::string &root, const std::string &repo,
                                gsh_request_kind kind, const std::string &protocol) {
    gsh_request req{};
    req.kind = kind;
    req.root = root.c_str();
    req.root_len = root.size();
    req.repo = repo.c_str();
    req.repo_len = repo.size();
    req.git_protocol = protocol.empty() ? nullptr : protocol.c_str();
    req.git_protocol_len = protocol.size();
    req.export_all = 1;
    return req;
}

// A session of kind on root/repo, with body, partial clone allowed,
// opened: *status is what the open returned.
inline SessionPtr open_session(const std::string &root, const std::string &repo,
                               gsh_request_kind kind, const std::string &protocol,
                               const std::string &body, int *status) {
    gsh_request req = make_request(root, repo, kind, protocol);
    req.allow_filter = 1;
    SessionPtr s(gsh_session_create(&req));
    EXPECT_NE(s, nullptr);
    EXPECT_EQ(gsh_session_add_body(s.get(), body.data(), body.size()), 0);
    *status = gsh_session_open(s.get());
    return s;
}

// A protocol v2 request body.
inline std::string v2_body(const std::string &command, const std::vector<std::string> &args) {
    std::string out;
    proto::pkt_write_line(out, "command=" + command);
    proto::pkt_write_line(out, "object-format=sha1");
    out += "0001";
    for (const std::string &a : args)
        proto::pkt_write_line(out, a);
    proto::pkt_flush(out);
    return out;
}

// Every byte of the response, and the last read's result.
inline std::string read_all(gsh_session *s, int *rc) {
    std::string out;
    unsigned char buf[65536];
    do {
        size_t n = 0;
        *rc = gsh_session_read(s, buf, sizeof(buf), &n);
        out.append(reinterpret_cast<char *>(buf), n);
    } while (*rc == GSH_AGAIN);
    return out;
}

} // namespace gsh::test
