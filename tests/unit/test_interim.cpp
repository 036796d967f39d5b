// InterimOutput: the mailbox between a read task that counts objects and the
// event loop that sends progress and keepalives meanwhile.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "protocol/pkt_line.h"
#include "service/interim.h"

namespace gsh {
namespace {

using Clock = InterimOutput::Clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

std::string progress_pkt(const std::string &text) {
    std::string out;
    proto::sideband_write(out, 2, text);
    return out;
}

std::string take(InterimOutput &box, Clock::time_point now, size_t cap = 4096) {
    std::vector<uint8_t> buf(cap);
    size_t n = box.take(buf.data(), cap, now);
    EXPECT_LE(n, cap);
    return std::string(buf.begin(), buf.begin() + std::ptrdiff_t(n));
}

const std::string kKeepalive("0005\x01", 5);

TEST(InterimOutput, NothingOutsideTheWindow) {
    InterimOutput box;
    box.set_keepalive(1);
    const Clock::time_point t0 = Clock::now();
    box.post(progress_pkt("Enumerating objects: 4096\r"));
    EXPECT_EQ(take(box, t0 + seconds(10)), "");
    box.open(t0);
    box.close();
    EXPECT_EQ(take(box, t0 + seconds(10)), "");
}

TEST(InterimOutput, ProgressGoesOutInWholePktLines) {
    InterimOutput box;
    const Clock::time_point t0 = Clock::now();
    box.open(t0);
    const std::string a = progress_pkt("Enumerating objects: 4096\r");
    const std::string b = progress_pkt("Enumerating objects: 8192\r");
    box.post(a);
    box.post(b);
    // Room for one and a half: the second waits whole.
    EXPECT_EQ(take(box, t0, a.size() + b.size() / 2), a);
    EXPECT_EQ(take(box, t0, 3), "");
    EXPECT_EQ(take(box, t0), b);
    EXPECT_EQ(take(box, t0), "");
    EXPECT_EQ(box.close(), "");
}

TEST(InterimOutput, CloseHandsBackWhatWasNotTaken) {
    InterimOutput box;
    const Clock::time_point t0 = Clock::now();
    box.open(t0);
    const std::string a = progress_pkt("Enumerating objects: 1, done.\n");
    const std::string b = progress_pkt("Counting objects: 100% (1/1), done.\n");
    box.post(a);
    EXPECT_EQ(take(box, t0), a);
    box.post(b);
    EXPECT_EQ(box.close(), b);
    EXPECT_EQ(take(box, t0), "");
}

TEST(InterimOutput, KeepaliveAfterSilenceOnly) {
    InterimOutput box;
    box.set_keepalive(5);
    const Clock::time_point t0 = Clock::now();
    box.open(t0);
    EXPECT_EQ(take(box, t0 + milliseconds(4999)), "");
    EXPECT_EQ(take(box, t0 + seconds(5)), kKeepalive);
    EXPECT_EQ(take(box, t0 + seconds(9)), "");
    // Progress counts as something sent.
    const std::string p = progress_pkt("Enumerating objects: 4096\r");
    box.post(p);
    EXPECT_EQ(take(box, t0 + seconds(9)), p);
    EXPECT_EQ(take(box, t0 + seconds(13)), "");
    EXPECT_EQ(take(box, t0 + seconds(14)), kKeepalive);
    // No room for one: nothing.
    EXPECT_EQ(take(box, t0 + seconds(30), 4), "");
}

TEST(InterimOutput, KeepaliveZeroOrNegativeSendsNone) {
    for (int setting : {0, -1}) {
        InterimOutput box;
        box.set_keepalive(setting);
        const Clock::time_point t0 = Clock::now();
        box.open(t0);
        EXPECT_EQ(take(box, t0 + seconds(3600)), "") << setting;
    }
}

TEST(InterimOutput, TwoThreadsLoseAndReorderNothing) {
    InterimOutput box;
    box.set_keepalive(0);
    box.open(Clock::now());
    std::string expected;
    std::vector<std::string> pkts;
    for (int i = 0; i < 2000; i++) {
        pkts.push_back(progress_pkt("Enumerating objects: " + std::to_string(i) + "\r"));
        expected += pkts.back();
    }
    std::string got;
    std::thread poster([&] {
        for (const std::string &p : pkts)
            box.post(p);
    });
    while (got.size() < expected.size() / 2)
        got += take(box, Clock::now(), 100);
    poster.join();
    got += box.close();
    EXPECT_EQ(got, expected);
}

} // namespace
} // namespace gsh
