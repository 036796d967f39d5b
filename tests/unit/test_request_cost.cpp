// What a request costs: limits end the reading of a request where they are
// reached (a tail the parser would refuse is never looked at), and the hash
// that de-duplicates the oids a client names cannot be made to collide.
// Behaviour, not timing: each test fails if the parse reads on, or if made-up
// oids share a bucket.
#include <gtest/gtest.h>

#include <cstring>

#include "repo/commits.h"
#include "service/request_summary.h"
#include "upload_pack_fixture.h"
#include "walk/negotiation.h"

using namespace gsh;

namespace {

class RequestCost : public gsh::test::UploadPackFixture {
  protected:
    // A v0 request: wants with capabilities on the first, a flush, then
    // lines; "RAW:" lines go out as they are (no pkt-line header).
    static std::string v0(const std::vector<std::string> &wants,
                          const std::vector<std::string> &rest) {
        std::string out;
        for (size_t i = 0; i < wants.size(); i++)
            proto::pkt_write_line(out, "want " + wants[i] + (i == 0 ? " ofs-delta" : ""));
        for (const std::string &line : rest) {
            if (line == "FLUSH")
                proto::pkt_flush(out);
            else if (line.starts_with("RAW:"))
                out += line.substr(4);
            else
                proto::pkt_write_line(out, line);
        }
        return out;
    }
    // Our answer with git_smart_http_max_wants / max_haves set.
    static std::string limited(const std::string &body, bool v2, size_t max_wants, size_t max_haves,
                               bool *refused) {
        RepoAccess &a = access_to(path);
        a.set_limits(max_wants, max_haves);
        std::unique_ptr<PackSection> pack;
        *refused = false;
        return v2 ? answer_v2(a, proto::parse_v2_request(body), &pack, refused)
                  : answer_v0(a, body, &pack, refused);
    }
    static std::string err(const std::string &text) {
        std::string out;
        proto::pkt_write(out, "ERR " + text);
        return out;
    }
};

} // namespace

// A truncated pkt-line after the want past the limit: read, it would be a
// 400; the answer is the limit's ERR, so the parse stopped at that want.
TEST_F(RequestCost, V0StopsReadingAtTheWantPastTheLimit) {
    const std::string body =
        v0({rev("main"), rev("side"), rev("v1")}, {"bogus line", "RAW:00ff-cut-short"});
    bool refused = false;
    EXPECT_EQ(limited(body, false, 2, 0, &refused),
              err("upload-pack: too many wants (the limit is 2)"));
    EXPECT_TRUE(refused);
    EXPECT_THROW(limited(body, false, 3, 0, &refused), Error); // within the limit: read on
}

TEST_F(RequestCost, V0LimitCountsDistinctWants) {
    std::vector<std::string> wants(50, rev("main"));
    wants.push_back(rev("side"));
    bool refused = false;
    const std::string answer = limited(v0(wants, {"FLUSH", "done"}), false, 2, 0, &refused);
    EXPECT_FALSE(refused);
    EXPECT_EQ(answer.find("ERR"), std::string::npos);
}

// As git: the first want we lack ends the request there, whatever follows.
TEST_F(RequestCost, V0StopsReadingAtAnUnknownWant) {
    const std::string body = v0({rev("main"), "1234567890123456789012345678901234567890"},
                                {"bogus line", "RAW:00ff-cut-short"});
    EXPECT_EQ(our_answer_v0(path, body), git_answer(path, body, ""));
    EXPECT_NE(our_answer_v0(path, body).find("not our ref 1234567890"), std::string::npos);
}

TEST_F(RequestCost, V0StopsReadingAtTheHavePastTheLimit) {
    const std::string body =
        v0({rev("main")}, {"FLUSH", "have " + rev("main~1"), "have " + rev("main~2"),
                           "have " + rev("main~3"), "have nothex", "RAW:00ff-cut-short"});
    bool refused = false;
    const std::string answer = limited(body, false, 0, 2, &refused);
    EXPECT_TRUE(refused);
    EXPECT_TRUE(answer.ends_with(err("upload-pack: too many haves (the limit is 2)")));
}

// v2 arguments after the want or have past a limit are not looked at: a
// malformed one there would be a 400.
TEST_F(RequestCost, V2StopsReadingArgumentsAtALimit) {
    bool refused = false;
    std::string body = request("fetch", {"want " + rev("main"), "want " + rev("side"),
                                         "want " + rev("v1"), "want nothex", "done"});
    EXPECT_EQ(limited(body, true, 2, 0, &refused),
              err("upload-pack: too many wants (the limit is 2)"));
    EXPECT_TRUE(refused);
    EXPECT_THROW(limited(body, true, 3, 0, &refused), Error);

    body = request("fetch", {"want " + rev("main"), "have " + rev("main~1"),
                             "have " + rev("main~2"), "have nothex", "done"});
    EXPECT_EQ(limited(body, true, 0, 1, &refused),
              err("upload-pack: too many haves (the limit is 1)"));
    EXPECT_THROW(limited(body, true, 0, 2, &refused), Error);

    // Repeated wants count once, as before.
    body = request("fetch", {"want " + rev("main"), "want " + rev("main"), "want " + rev("main"),
                             "no-progress", "done"});
    EXPECT_EQ(limited(body, true, 1, 0, &refused).find("ERR"), std::string::npos);
    EXPECT_FALSE(refused);
}

// Oids a client makes up can share any bytes it likes. With the raw leading
// bytes as the hash, these 20,000 all fell in one bucket (a linear scan per
// insert); keyed over all 20 bytes they spread.
TEST_F(RequestCost, MadeUpOidsDoNotShareABucket) {
    for (size_t varying : {0u, 8u, 16u}) {
        OidHashSet set;
        for (uint32_t i = 0; i < 20000; i++) {
            git_oid oid;
            std::memset(oid.id, 0xab, sizeof(oid.id));
            std::memcpy(oid.id + varying, &i, sizeof(i));
            set.insert(oid);
        }
        ASSERT_EQ(set.size(), 20000u);
        size_t worst = 0;
        for (size_t b = 0; b < set.bucket_count(); b++)
            worst = std::max(worst, set.bucket_size(b));
        EXPECT_LT(worst, 32u) << "oids varying from byte " << varying;
    }
}

// v0 with multi_ack asks ok_to_give_up() after every have we lack, as git
// does; the answer can only change when a have we have comes, so 1,000
// made-up haves cost no more walking than one.
TEST_F(RequestCost, HavesWeLackDoNotRepeatTheWalk) {
    RepoAccess &a = access_to(path);
    auto oid = [](const std::string &hex) {
        git_oid o;
        EXPECT_EQ(git_oid_fromstrn(&o, hex.data(), hex.size()), 0);
        return o;
    };
    Negotiator neg(a.git(), {oid(rev("main"))});
    ASSERT_NE(neg.got(oid(rev("main~4"))), Negotiator::Have::Missing);
    ASSERT_TRUE(neg.ok_to_give_up());
    const size_t one_walk = neg.walk_steps();
    ASSERT_GT(one_walk, 0u);
    for (uint32_t i = 0; i < 1000; i++) {
        git_oid fake;
        std::memset(fake.id, 0x5a, sizeof(fake.id));
        std::memcpy(fake.id + 16, &i, sizeof(i));
        ASSERT_EQ(neg.got(fake), Negotiator::Have::Missing);
        ASSERT_TRUE(neg.ok_to_give_up());
    }
    EXPECT_EQ(neg.walk_steps(), one_walk);
    // a have that changes what the client has: asked again
    ASSERT_NE(neg.got(oid(rev("main~1"))), Negotiator::Have::Missing);
    EXPECT_TRUE(neg.ok_to_give_up());
    EXPECT_GT(neg.walk_steps(), one_walk);
}

// The session reads a v0 body through a PktReader that pulls from the body
// (inflating a gzip body as it goes): after the want that crosses the limit,
// or one we lack, at most one more chunk is taken of a 4 MB tail.
TEST_F(RequestCost, V0TakesTheBodyOnlyUpToWhereItStops) {
    for (bool unknown : {false, true}) {
        const std::string body =
            v0({rev("main"), rev("side"),
                unknown ? "1234567890123456789012345678901234567890" : rev("v1")},
               {}) +
            std::string(4 << 20, 'x');
        size_t given = 0;
        proto::PktReader reader([&](char *buf, size_t cap) {
            const size_t n = std::min(cap, body.size() - given);
            std::memcpy(buf, body.data() + given, n);
            given += n;
            return n;
        });
        RepoAccess &a = access_to(path);
        a.set_limits(unknown ? 0 : 2, 0);
        std::unique_ptr<PackSection> pack;
        bool refused = false;
        RequestSummary summary = summarize_v0("");
        const std::string answer = answer_v0(a, reader, &pack, &refused, &summary, nullptr);
        EXPECT_TRUE(refused);
        EXPECT_NE(answer.find(unknown ? "not our ref" : "too many wants"), std::string::npos);
        EXPECT_LE(given, size_t(200 + 64 * 1024)) << unknown;
        EXPECT_EQ(summary.wants, 3); // the lines read
    }
}

// A v2 fetch is parsed from a PktReader that pulls from the body too: the
// want or have that crosses a limit, or a want we lack, ends the reading, so
// a 4 MB tail that is not even pkt-lines is never taken (read, it would be
// a 400: without the limits, the same body is).
TEST_F(RequestCost, V2TakesTheBodyOnlyUpToWhereItStops) {
    const std::string unknown = "1234567890123456789012345678901234567890";
    struct Case {
        std::vector<std::string> args;
        size_t max_wants, max_haves;
        std::string err;
    };
    const std::vector<Case> cases = {
        {{"want " + rev("main"), "want " + rev("main"), "want " + rev("side"), "want " + rev("v1")},
         2,
         0,
         "too many wants (the limit is 2)"},
        {{"want " + rev("main"), "have " + rev("main~1"), "have " + rev("main~2")},
         0,
         1,
         "too many haves (the limit is 1)"},
        {{"want " + rev("main"), "want " + unknown}, 0, 0, "not our ref " + unknown},
    };
    for (const Case &c : cases) {
        for (bool limited : {true, false}) {
            std::string body = request("fetch", c.args);
            if (!limited && c.max_wants + c.max_haves == 0)
                continue;                 // nothing to lift
            body.resize(body.size() - 4); // no flush: the tail follows the arguments
            body += std::string(4 << 20, 'x');
            size_t given = 0;
            proto::PktReader reader([&](char *buf, size_t cap) {
                const size_t n = std::min(cap, body.size() - given);
                std::memcpy(buf, body.data() + given, n);
                given += n;
                return n;
            });
            RepoAccess &a = access_to(path);
            a.set_limits(limited ? c.max_wants : 0, limited ? c.max_haves : 0);
            FetchPrecheck checked;
            if (!limited) {
                EXPECT_THROW(proto::parse_v2_request(reader, fetch_refusal_stop(a, checked)),
                             Error);
                continue;
            }
            const proto::V2Request req =
                proto::parse_v2_request(reader, fetch_refusal_stop(a, checked));
            EXPECT_TRUE(req.cut);
            EXPECT_EQ(req.args.size(), c.args.size());
            EXPECT_LE(given, size_t(300 + 64 * 1024));
            std::unique_ptr<PackSection> pack;
            bool refused = false;
            // What the parse looked up is not looked up again: same answer.
            EXPECT_EQ(answer_v2(a, req, &pack, &refused, nullptr, &checked),
                      err("upload-pack: " + c.err));
            EXPECT_TRUE(refused);
        }
    }
}
