// The command list of a push read from a streamed body, and the body reader
// itself (gzip inflated piece by piece, bounded).
#include <gtest/gtest.h>

#include <zlib.h>

#include "pkt_lines.h"
#include "protocol/pkt_line.h"
#include "push/receive_commands.h"
#include "util/error.h"

using namespace gsh;

namespace {

const std::string kA(40, 'a'), kB(40, 'b'), kZ(40, '0');

using test::pkts;

ReceiveRequest parse(const std::string &data, bool allow_options = true, size_t max = 1 << 20,
                     std::string *rest = nullptr) {
    RequestBody body;
    // Split in two pieces to cross a piece boundary.
    body.add_memory(data.data(), data.size() / 2);
    body.add_memory(data.data() + data.size() / 2, data.size() - data.size() / 2);
    BodyReader reader(body, "", max);
    PktStream in(reader);
    ReceiveRequest req = read_receive_request(in, allow_options, max);
    if (rest) {
        char buf[7];
        size_t n;
        while ((n = in.read_raw(buf, sizeof(buf))) > 0)
            rest->append(buf, n);
    }
    return req;
}

int status_of(const std::string &data, size_t max = 1 << 20) {
    try {
        parse(data, true, max);
        return 200;
    } catch (const Error &e) {
        return e.http_status();
    }
}

TEST(ReceiveCommands, CommandsCapabilitiesOptionsAndThePack) {
    std::string rest;
    ReceiveRequest req =
        parse(pkts({kZ + " " + kA + " refs/heads/new" + std::string(1, '\0') +
                        "report-status side-band-64k atomic push-options agent=git/2.39.5",
                    kB + " " + kZ + " refs/heads/gone", "FLUSH", "ci.skip", "x=y", "FLUSH"}) +
                  "PACKdata",
              true, 1 << 20, &rest);
    ASSERT_EQ(req.commands.size(), 2u);
    EXPECT_EQ(req.commands[0].ref, "refs/heads/new");
    EXPECT_TRUE(req.commands[0].is_create());
    EXPECT_TRUE(req.commands[1].is_delete());
    EXPECT_TRUE(req.report_status && req.side_band_64k && req.atomic && req.push_options);
    EXPECT_FALSE(req.quiet || req.report_status_v2);
    EXPECT_EQ(req.agent, "git/2.39.5");
    EXPECT_EQ(req.options, (std::vector<std::string>{"ci.skip", "x=y"}));
    EXPECT_TRUE(req.pack_expected());
    EXPECT_EQ(rest, "PACKdata");
}

TEST(ReceiveCommands, PushOptionsOnlyWhenAdvertised) {
    std::string rest;
    ReceiveRequest req = parse(
        pkts({kZ + " " + kA + " refs/heads/x" + std::string(1, '\0') + "push-options", "FLUSH"}) +
            "PACK",
        false, 1 << 20, &rest);
    EXPECT_FALSE(req.push_options);
    EXPECT_EQ(rest, "PACK");
}

TEST(ReceiveCommands, DeletesOnlyNeedNoPack) {
    ReceiveRequest req = parse(pkts({kA + " " + kZ + " refs/heads/x", "FLUSH"}));
    EXPECT_FALSE(req.pack_expected());
    EXPECT_FALSE(req.report_status); // no capabilities at all
}

TEST(ReceiveCommands, EmptyNameIsACommand) {
    ReceiveRequest req = parse(pkts({kA + " " + kB + " ", "FLUSH"}));
    ASSERT_EQ(req.commands.size(), 1u);
    EXPECT_EQ(req.commands[0].ref, "");
}

TEST(ReceiveCommands, MalformedIs400WithGitsWording) {
    try {
        parse(pkts({kA + " " + kB, "FLUSH"}));
        FAIL();
    } catch (const Error &e) {
        EXPECT_EQ(e.http_status(), 400);
        EXPECT_EQ(std::string(e.what()),
                  "protocol error: expected old/new/ref, got '" + kA + " " + kB + "'");
    }
    EXPECT_EQ(status_of(pkts({std::string(40, 'g') + " " + kB + " refs/heads/x", "FLUSH"})), 400);
    EXPECT_EQ(status_of(pkts({kA + " " + kB + " refs/heads/x"})), 400); // no flush
    EXPECT_EQ(status_of(""), 400);                                      // nothing
    EXPECT_EQ(status_of("00"), 400);                                    // cut length
    EXPECT_EQ(status_of("0010abc"), 400);                               // cut pkt
    EXPECT_EQ(status_of("xyz1"), 400);                                  // bad length
    EXPECT_EQ(status_of("0003"), 400);
    EXPECT_EQ(status_of(pkts({kA + " " + kB + " refs/heads/x"}) + "0001"), 400); // delim
    EXPECT_EQ(status_of(pkts(
                  {kA + " " + kB + " refs/heads/x" + std::string(1, '\0') + "object-format=sha256",
                   "FLUSH"})),
              400);
    EXPECT_EQ(status_of(pkts({"push-cert" + std::string(1, '\0') + "report-status", "FLUSH"})),
              400);
    EXPECT_EQ(status_of(pkts({kA + " " + kB + " refs/heads/x", "FLUSH"}), 10), 413);
    // Push options were asked for but never end.
    EXPECT_EQ(
        status_of(pkts({kA + " " + kB + " refs/heads/x" + std::string(1, '\0') + "push-options",
                        "FLUSH", "opt"})),
        400);
}

std::string gzip(const std::string &raw) {
    z_stream zs{};
    deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    std::string out(deflateBound(&zs, raw.size()), '\0');
    zs.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(raw.data()));
    zs.avail_in = raw.size();
    zs.next_out = reinterpret_cast<Bytef *>(out.data());
    zs.avail_out = out.size();
    deflate(&zs, Z_FINISH);
    out.resize(zs.total_out);
    deflateEnd(&zs);
    return out;
}

TEST(BodyReader, GzipInflatedInSmallReadsAndBounded) {
    std::string raw;
    for (int i = 0; i < 200000; i++)
        raw += std::to_string(i * 7919 % 10007);
    const std::string gz = gzip(raw);
    RequestBody body;
    body.add_memory(gz.data(), 100);
    body.add_memory(gz.data() + 100, gz.size() - 100);
    {
        BodyReader reader(body, "gzip", raw.size());
        std::string out;
        char buf[333];
        size_t n;
        while ((n = reader.read(buf, sizeof(buf))) > 0)
            out.append(buf, n);
        EXPECT_EQ(out, raw);
        EXPECT_EQ(reader.delivered(), raw.size());
    }
    BodyReader small(body, "x-gzip", raw.size() - 1);
    char buf[65536];
    try {
        while (small.read(buf, sizeof(buf)) > 0) {
        }
        FAIL();
    } catch (const Error &e) {
        EXPECT_EQ(e.http_status(), 413);
    }
    RequestBody cut;
    cut.add_memory(gz.data(), gz.size() - 10);
    BodyReader truncated(cut, "gzip", raw.size());
    try {
        while (truncated.read(buf, sizeof(buf)) > 0) {
        }
        FAIL();
    } catch (const Error &e) {
        EXPECT_EQ(e.http_status(), 400);
    }
    try {
        BodyReader br(body, "br", 10);
        FAIL();
    } catch (const Error &e) {
        EXPECT_EQ(e.http_status(), 415);
    }
}

TEST(BodyReader, IdentityIsNotBoundedHere) {
    const std::string raw(100000, 'x');
    RequestBody body;
    body.add_memory(raw.data(), raw.size());
    BodyReader reader(body, "identity", 10);
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = reader.read(buf, sizeof(buf))) > 0)
        out.append(buf, n);
    EXPECT_EQ(out, raw);
}

} // namespace
