#include <gtest/gtest.h>

#include "protocol/pkt_line.h"
#include "protocol/v2_request.h"
#include "util/error.h"

using namespace gsh;
using namespace gsh::proto;

namespace {

std::string request(std::initializer_list<std::string_view> caps,
                    std::initializer_list<std::string_view> args) {
    std::string out;
    for (auto c : caps)
        pkt_write_line(out, c);
    pkt_delim(out);
    for (auto a : args)
        pkt_write_line(out, a);
    pkt_flush(out);
    return out;
}

int status_of(const std::string &body) {
    try {
        parse_v2_request(body);
        return 0;
    } catch (const Error &e) {
        return e.http_status();
    }
}

} // namespace

TEST(V2Request, ParsesCommandCapabilitiesAndArgs) {
    V2Request r =
        parse_v2_request(request({"command=ls-refs", "agent=git/2.39.5", "object-format=sha1"},
                                 {"peel", "symrefs", "ref-prefix refs/heads/"}));
    EXPECT_EQ(r.command, "ls-refs");
    EXPECT_EQ(r.capabilities, (std::vector<std::string>{"agent=git/2.39.5", "object-format=sha1"}));
    EXPECT_EQ(r.args, (std::vector<std::string>{"peel", "symrefs", "ref-prefix refs/heads/"}));
}

TEST(V2Request, CommandWithoutArgs) {
    std::string body;
    pkt_write_line(body, "command=fetch");
    pkt_flush(body);
    V2Request r = parse_v2_request(body);
    EXPECT_EQ(r.command, "fetch");
    EXPECT_TRUE(r.args.empty());
}

TEST(V2Request, FlushOnlyIsNoCommand) {
    EXPECT_TRUE(parse_v2_request("0000").command.empty());
    EXPECT_TRUE(parse_v2_request("").command.empty());
}

TEST(V2Request, MalformedRequestsAre400) {
    EXPECT_EQ(status_of(request({"agent=x"}, {"peel"})), 400);          // no command
    EXPECT_EQ(status_of(request({"command=a", "command=b"}, {})), 400); // two commands
    std::string unterminated;
    pkt_write_line(unterminated, "command=ls-refs");
    EXPECT_EQ(status_of(unterminated), 400);                               // no flush
    EXPECT_EQ(status_of(request({"command=ls-refs"}, {}) + "0005x"), 400); // trailing data
    std::string two_delims = "0014command=ls-refs\n00010001"
                             "0000";
    EXPECT_EQ(status_of(two_delims), 400);
}

TEST(V2Request, ProtocolVersionTakesTheHighest) {
    EXPECT_EQ(protocol_version(""), 0);
    EXPECT_EQ(protocol_version("version=2"), 2);
    EXPECT_EQ(protocol_version("version=1"), 1);
    EXPECT_EQ(protocol_version("version=1:version=2"), 2);
    EXPECT_EQ(protocol_version("object-format=sha1:version=2"), 2);
    EXPECT_EQ(protocol_version("version=3"), 0);
    EXPECT_EQ(protocol_version("version=22"), 0);
}

// As git 2.39 reads GIT_PROTOCOL (each checked with upload-pack
// --advertise-refs): only exact "version=0|1|2" items count, the highest wins.
TEST(V2Request, ProtocolVersionReadsItemsAsGitDoes) {
    EXPECT_EQ(protocol_version("version=23"), 0);
    EXPECT_EQ(protocol_version("version=02"), 0);
    EXPECT_EQ(protocol_version("version=2:version=1"), 2);
    EXPECT_EQ(protocol_version("version=2:junk"), 2);
    EXPECT_EQ(protocol_version("foo:version=2:"), 2);
    EXPECT_EQ(protocol_version("version=2 "), 0);
    EXPECT_EQ(protocol_version(" version=2"), 0);
    EXPECT_EQ(protocol_version("version=1,version=2"), 0);
    EXPECT_EQ(protocol_version("VERSION=2"), 0);
    EXPECT_EQ(protocol_version("version="), 0);
    EXPECT_EQ(protocol_version("::"), 0);
}
