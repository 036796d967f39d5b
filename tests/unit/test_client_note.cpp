// What a client says about itself that is only logged: its session-id and
// its server options.
#include <gtest/gtest.h>

#include "protocol/pkt_line.h"
#include "protocol/v2_request.h"
#include "service/client_note.h"

using namespace gsh;

TEST(ClientNote, V2SessionIdAndServerOptions) {
    std::string body;
    proto::pkt_write_line(body, "command=ls-refs");
    proto::pkt_write_line(body, "agent=git/2.39.5");
    proto::pkt_write_line(body, "session-id=abc");
    proto::pkt_write_line(body, "server-option=one");
    proto::pkt_write_line(body, "server-option=two words");
    proto::pkt_flush(body);
    EXPECT_EQ(client_note_v2(proto::parse_v2_request(body)),
              "session-id \"abc\", server-option \"one\", server-option \"two words\"");
}

TEST(ClientNote, V2NothingToNote) {
    std::string body;
    proto::pkt_write_line(body, "command=ls-refs");
    proto::pkt_flush(body);
    EXPECT_EQ(client_note_v2(proto::parse_v2_request(body)), "");
}

TEST(ClientNote, V0SessionIdFeature) {
    const std::string oid(40, 'a');
    std::string body;
    proto::pkt_write_line(body, "want " + oid + " side-band-64k session-id=xyz ofs-delta");
    proto::pkt_write_line(body, "want " + oid);
    proto::pkt_flush(body);
    EXPECT_EQ(client_note_v0(body), "session-id \"xyz\"");
    std::string plain;
    proto::pkt_write_line(plain, "want " + oid + " side-band-64k");
    proto::pkt_flush(plain);
    EXPECT_EQ(client_note_v0(plain), "");
    EXPECT_EQ(client_note_v0("00"), ""); // malformed: someone else's 400
}
