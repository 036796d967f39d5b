#include "util/phase_times.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace gsh {
namespace {

// A clock that advances by a set step at each reading: no sleeps, and the
// sums are exact.
struct StepClock {
    double t = 100.0;
    double step = 0.25;
    double operator()() {
        const double now = t;
        t += step;
        return now;
    }
};

TEST(PhaseTimes, NeverEnteredIsNotKnown) {
    PhaseTimes times;
    for (size_t i = 0; i < kPhaseCount; i++)
        EXPECT_LT(times.seconds(static_cast<Phase>(i)), 0);
}

TEST(PhaseTimes, ScopesOfOnePhaseAddUp) {
    StepClock clock;
    PhaseTimes times([&clock] { return clock(); });
    { PhaseTimes::Scope s(&times, Phase::write); }
    { PhaseTimes::Scope s(&times, Phase::write); }
    clock.step = 1.0;
    { PhaseTimes::Scope s(&times, Phase::count); }
    EXPECT_DOUBLE_EQ(times.seconds(Phase::write), 0.5);
    EXPECT_DOUBLE_EQ(times.seconds(Phase::count), 1.0);
    EXPECT_LT(times.seconds(Phase::plan), 0);
}

TEST(PhaseTimes, AScopeLeftByAnExceptionCounts) {
    StepClock clock;
    PhaseTimes times([&clock] { return clock(); });
    try {
        PhaseTimes::Scope s(&times, Phase::hooks);
        throw std::runtime_error("x");
    } catch (const std::runtime_error &) {
    }
    EXPECT_DOUBLE_EQ(times.seconds(Phase::hooks), 0.25);
}

TEST(PhaseTimes, ZeroIsKnownAndABackwardStepIsZero) {
    PhaseTimes times([] { return 0.0; });
    times.add(Phase::refs, -3);
    EXPECT_DOUBLE_EQ(times.seconds(Phase::refs), 0);
    { PhaseTimes::Scope s(&times, Phase::parse); }
    EXPECT_DOUBLE_EQ(times.seconds(Phase::parse), 0);
    // A null PhaseTimes times nothing.
    PhaseTimes::Scope none(nullptr, Phase::parse);
}

} // namespace
} // namespace gsh
