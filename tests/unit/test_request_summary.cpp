// The access-log summary of a request: command, want and have lines, depth
// and filter, counted as the client sent them.
#include <gtest/gtest.h>

#include "protocol/pkt_line.h"
#include "protocol/v2_request.h"
#include "service/request_summary.h"

using namespace gsh;

namespace {

const std::string kOid(40, 'a');

std::string v2_body(const std::string &command, const std::vector<std::string> &args) {
    std::string body;
    proto::pkt_write_line(body, "command=" + command);
    proto::pkt_write_line(body, "agent=git/2.39.5");
    proto::pkt_delim(body);
    for (const std::string &a : args)
        proto::pkt_write_line(body, a);
    proto::pkt_flush(body);
    return body;
}

} // namespace

TEST(RequestSummary, V2Fetch) {
    RequestSummary s = summarize_v2(proto::parse_v2_request(
        v2_body("fetch", {"thin-pack", "want " + kOid, "want " + kOid, "want-ref refs/heads/main",
                          "have " + kOid, "deepen 3", "filter blob:limit=1k", "done"})));
    EXPECT_EQ(s.command, "fetch");
    EXPECT_EQ(s.wants, 3); // as sent: a repeated want counts twice
    EXPECT_EQ(s.haves, 1);
    EXPECT_EQ(s.depth, 3);
    ASSERT_TRUE(s.filter);
    EXPECT_EQ(*s.filter, "blob:limit=1k");
}

TEST(RequestSummary, V2FetchWithoutShallowOrFilter) {
    RequestSummary s = summarize_v2(proto::parse_v2_request(
        v2_body("fetch", {"want " + kOid, "deepen-since 1700000000", "deepen-relative"})));
    EXPECT_EQ(s.wants, 1);
    EXPECT_EQ(s.haves, 0);
    EXPECT_EQ(s.depth, -1);
    EXPECT_FALSE(s.filter);
}

TEST(RequestSummary, V2OtherCommands) {
    RequestSummary ls = summarize_v2(proto::parse_v2_request(v2_body("ls-refs", {"peel"})));
    EXPECT_EQ(ls.command, "ls-refs");
    EXPECT_EQ(ls.wants, -1);
    EXPECT_EQ(ls.haves, -1);
    EXPECT_EQ(summarize_v2(proto::parse_v2_request(v2_body("object-info", {"size"}))).command,
              "object-info");
    // A command git does not have is not repeated into the log.
    EXPECT_EQ(summarize_v2(proto::parse_v2_request(v2_body("rm-rf", {}))).command, "");
}

TEST(RequestSummary, V2BadDepthIsNoDepth) {
    EXPECT_EQ(summarize_v2(proto::parse_v2_request(v2_body("fetch", {"deepen x1"}))).depth, -1);
    EXPECT_EQ(summarize_v2(proto::parse_v2_request(v2_body("fetch", {"deepen -2"}))).depth, -1);
    EXPECT_EQ(summarize_v2(proto::parse_v2_request(v2_body("fetch", {"deepen 2147483647"}))).depth,
              2147483647);
}

TEST(RequestSummary, V0Body) {
    std::string body;
    proto::pkt_write_line(body, "want " + kOid + " multi_ack_detailed side-band-64k");
    proto::pkt_write_line(body, "want " + kOid);
    proto::pkt_write_line(body, "deepen 1");
    proto::pkt_write_line(body, "filter tree:0");
    proto::pkt_flush(body);
    proto::pkt_write_line(body, "have " + kOid);
    proto::pkt_write_line(body, "have " + kOid);
    proto::pkt_write_line(body, "have " + kOid);
    proto::pkt_write_line(body, "done");
    RequestSummary s = summarize_v0(body);
    EXPECT_EQ(s.command, "fetch");
    EXPECT_EQ(s.wants, 2);
    EXPECT_EQ(s.haves, 3);
    EXPECT_EQ(s.depth, 1);
    ASSERT_TRUE(s.filter);
    EXPECT_EQ(*s.filter, "tree:0");
}

TEST(RequestSummary, V0MalformedCountsUpToTheBreak) {
    std::string body;
    proto::pkt_write_line(body, "want " + kOid);
    body += "zzzz";
    RequestSummary s = summarize_v0(body);
    EXPECT_EQ(s.wants, 1);
    EXPECT_EQ(s.haves, 0);
    EXPECT_EQ(s.depth, -1);
}
