#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "protocol/pkt_line.h"
#include "util/error.h"

using namespace gsh;
using namespace gsh::proto;

namespace {

int status_of(std::string_view body) {
    try {
        PktReader r(body);
        while (r.next().kind != PktKind::End) {
        }
        return 0;
    } catch (const Error &e) {
        return e.http_status();
    }
}

} // namespace

TEST(PktLine, ReadsDataFlushDelimAndStripsNewline) {
    PktReader r("0009hello0000000aworld\n00010002");
    Pkt p = r.next();
    EXPECT_EQ(p.kind, PktKind::Data);
    EXPECT_EQ(p.data, "hello");
    EXPECT_EQ(r.next().kind, PktKind::Flush);
    p = r.next();
    EXPECT_EQ(p.data, "world");
    EXPECT_EQ(r.next().kind, PktKind::Delim);
    EXPECT_EQ(r.next().kind, PktKind::ResponseEnd);
    EXPECT_EQ(r.next().kind, PktKind::End);
    EXPECT_TRUE(r.at_end());
}

TEST(PktLine, EmptyPayloadIsData) {
    PktReader r("0004");
    Pkt p = r.next();
    EXPECT_EQ(p.kind, PktKind::Data);
    EXPECT_TRUE(p.data.empty());
}

TEST(PktLine, MalformedLengthsAre400) {
    EXPECT_EQ(status_of("00zzabc"), 400); // bad hex
    EXPECT_EQ(status_of("0003"), 400);    // 3 is reserved
    EXPECT_EQ(status_of("ffffabc"), 400); // longer than 65520
    EXPECT_EQ(status_of("000ahel"), 400); // body ends inside the pkt-line
    EXPECT_EQ(status_of("00"), 400);      // body ends inside the length
    EXPECT_EQ(status_of("0009hello0000"), 0);
}

TEST(PktLine, WritesLinesFlushAndDelim) {
    std::string out;
    pkt_write_line(out, "version 2");
    pkt_delim(out);
    pkt_write(out, "x");
    pkt_flush(out);
    EXPECT_EQ(out, "000eversion 2\n00010005x0000");
}

TEST(PktLine, LineWrittenInPlaceIsTheLineWrittenWhole) {
    std::string whole = "x", in_place = "x";
    pkt_write_line(whole, "want 0123 and more");
    const size_t at = pkt_begin_line(in_place);
    in_place += "want 0123";
    in_place += " and more";
    pkt_end_line(in_place, at);
    EXPECT_EQ(in_place, whole);
    // One byte too long for a pkt-line, newline included.
    std::string big;
    const size_t start = pkt_begin_line(big);
    big.append(kMaxPktLen - 4, 'a');
    EXPECT_THROW(pkt_end_line(big, start), Error);
    std::string fits;
    const size_t from = pkt_begin_line(fits);
    fits.append(kMaxPktLen - 5, 'a');
    pkt_end_line(fits, from);
    EXPECT_EQ(fits.substr(0, 4), "fff0");
}

TEST(PktLine, SidebandSplitsAtTheLargestPacket) {
    std::string out;
    std::string data(kMaxSidebandData + 10, 'a');
    sideband_write(out, 1, data);
    ASSERT_EQ(out.size(), data.size() + 2 * 5);
    EXPECT_EQ(out.substr(0, 5), std::string("fff0\x01"));
    EXPECT_EQ(out.substr(kMaxPktLen, 5), std::string("000f\x01"));
    PktReader r(out);
    EXPECT_EQ(r.next().data.size(), kMaxSidebandData + 1);
    EXPECT_EQ(r.next().data.size(), 11u);
}

// From a source that hands over one byte at a time, and from one that hands
// over everything: the same lines as reading the body in place, and the
// same errors.
TEST(PktLine, ReadsFromASourceAsFromTheBody) {
    const std::string big(70000, 'x');
    std::string body = "0009hello0000000aworld\n0001";
    body += "fff0" + big.substr(0, 0xfff0 - 4) + "0004";
    for (size_t step : {size_t(1), size_t(7), size_t(1) << 20}) {
        size_t pos = 0;
        PktReader in_place(body);
        PktReader streamed([&](char *buf, size_t cap) {
            const size_t n = std::min({cap, step, body.size() - pos});
            std::memcpy(buf, body.data() + pos, n);
            pos += n;
            return n;
        });
        for (;;) {
            Pkt a = in_place.next(), b = streamed.next();
            ASSERT_EQ(a.kind, b.kind) << step;
            ASSERT_EQ(a.data, b.data) << step;
            if (a.kind == PktKind::End)
                break;
        }
        EXPECT_TRUE(streamed.at_end());
        EXPECT_EQ(streamed.bytes_read(), body.size());
    }
    size_t pos = 0;
    const std::string cut = "0009hello00ff-short";
    PktReader streamed([&](char *buf, size_t cap) {
        const size_t n = std::min(cap, cut.size() - pos);
        std::memcpy(buf, cut.data() + pos, n);
        pos += n;
        return n;
    });
    EXPECT_EQ(streamed.next().data, "hello");
    EXPECT_THROW(streamed.next(), Error);
}
