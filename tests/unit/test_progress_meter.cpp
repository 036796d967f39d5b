// git's progress.c lines, made from counts and a clock of the test's.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <string_view>

#include "push/progress_meter.h"

using gsh::humanise_size;
using gsh::ProgressMeter;
using namespace std::chrono_literals;

namespace {

struct Meter {
    explicit Meter(uint64_t total, const char *title = "Receiving objects")
        : meter(title, total, t0, [this](std::string_view line) { out += line; }) {}
    ProgressMeter::Clock::time_point t0{};
    std::string out;
    ProgressMeter meter;
};

TEST(ProgressMeter, HumanisedAsGit) {
    EXPECT_EQ(humanise_size(0), "0 bytes");
    EXPECT_EQ(humanise_size(1), "1 byte");
    EXPECT_EQ(humanise_size(1024), "1024 bytes");
    EXPECT_EQ(humanise_size(1025), "1.00 KiB");
    EXPECT_EQ(humanise_size(1536), "1.50 KiB");
    EXPECT_EQ(humanise_size(3u << 20), "3.00 MiB");
    // git truncates the GiB fraction (x / 10737419)
    EXPECT_EQ(humanise_size((5ull << 30) + (1ull << 29)), "5.49 GiB");
    EXPECT_EQ(humanise_size(1, true), "1 byte/s");
    EXPECT_EQ(humanise_size(0, true), "0 bytes/s");
    EXPECT_EQ(humanise_size(2048 * 1024, true), "2.00 MiB/s");
}

// One line per percent, "%3u%% (%u/%u)" ending in "\r", the last again
// with ", done.\n".
TEST(ProgressMeter, LinePerPercentThenDone) {
    Meter m(3, "Resolving deltas");
    m.meter.update(0, m.t0);
    m.meter.update(1, m.t0);
    m.meter.update(1, m.t0); // same percent: nothing
    m.meter.update(3, m.t0);
    m.meter.stop(m.t0);
    EXPECT_EQ(m.out, "Resolving deltas:   0% (0/3)\rResolving deltas:  33% (1/3)\r"
                     "Resolving deltas: 100% (3/3)\rResolving deltas: 100% (3/3), done.\n");
}

TEST(ProgressMeter, ManyObjectsOnlyPercentChangesShow) {
    Meter m(1000);
    for (uint64_t i = 1; i <= 1000; i++)
        m.meter.update(i, m.t0);
    size_t lines = 0;
    for (char c : m.out)
        lines += c == '\r';
    EXPECT_EQ(lines, 101u) << "0% at 1..9, then one per percent";
    EXPECT_TRUE(m.out.starts_with("Receiving objects:   0% (1/1000)\r")) << m.out;
}

// A second without a new percent shows the line again (git's alarm).
TEST(ProgressMeter, SecondsShowTheLineAgain) {
    Meter m(1000);
    m.meter.update(1, m.t0);
    m.meter.update(2, m.t0 + 500ms);
    m.meter.update(3, m.t0 + 1100ms);
    EXPECT_EQ(m.out, "Receiving objects:   0% (1/1000)\rReceiving objects:   0% (3/1000)\r");
}

// Throughput: nothing for the first half second (400 ms: not yet), then
// the size so far and the rate since (3 MiB in 1 s, which the second's
// alarm shows at once on the line as it was); ", done." gets the size and
// the mean rate since the start.
TEST(ProgressMeter, ThroughputAsGit) {
    Meter m(4);
    m.meter.throughput(0, m.t0);
    m.meter.update(1, m.t0);
    m.meter.throughput(1 << 20, m.t0 + 400ms);
    m.meter.update(2, m.t0 + 400ms);
    m.meter.throughput(3 << 20, m.t0 + 1000ms);
    m.meter.update(3, m.t0 + 1000ms);
    m.meter.stop(m.t0 + 2000ms);
    EXPECT_EQ(m.out, "Receiving objects:  25% (1/4)\r"
                     "Receiving objects:  50% (2/4)\r"
                     "Receiving objects:  50% (2/4), 3.00 MiB | 3.00 MiB/s\r"
                     "Receiving objects:  75% (3/4), 3.00 MiB | 3.00 MiB/s\r"
                     "Receiving objects:  75% (3/4), 3.00 MiB | 1.50 MiB/s, done.\n");
}

// A shorter line is padded over what the longer one left on the screen.
TEST(ProgressMeter, ShorterLinePaddedAsGit) {
    Meter m(2);
    m.meter.throughput(0, m.t0);
    m.meter.throughput(10 << 20, m.t0 + 1000ms);
    // git's 1024ths of a second make 1 s 1023 of them: 10.01 MiB/s
    m.meter.update(1, m.t0 + 1000ms);
    m.meter.throughput(11 << 20, m.t0 + 2000ms); // the alarm: shown at once
    m.meter.update(2, m.t0 + 2000ms);
    EXPECT_EQ(m.out, "Receiving objects:  50% (1/2), 10.00 MiB | 10.01 MiB/s\r"
                     "Receiving objects:  50% (1/2), 11.00 MiB | 5.50 MiB/s \r"
                     "Receiving objects: 100% (2/2), 11.00 MiB | 5.50 MiB/s\r");
}

TEST(ProgressMeter, StopWithoutUpdateShowsNothing) {
    Meter m(5);
    m.meter.stop(m.t0);
    EXPECT_EQ(m.out, "");
    EXPECT_FALSE(m.meter.started());
}

TEST(ProgressMeter, OtherEndMessage) {
    Meter m(2, "Resolving deltas");
    m.meter.update(2, m.t0);
    m.meter.stop(m.t0, "completed with 1 local object");
    EXPECT_EQ(m.out, "Resolving deltas: 100% (2/2)\r"
                     "Resolving deltas: 100% (2/2), completed with 1 local object.\n");
}

} // namespace
