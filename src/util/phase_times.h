// Where a request's time goes, phase by phase, for the access log and the
// metrics. A phase may be entered several times (a pack is written over
// many reads): its seconds add up. A phase never entered is "not known"
// (< 0), which the log shows as "-", not as 0.
#pragma once

#include <array>
#include <cstddef>
#include <functional>

namespace gsh {

// The order of gsh_phase in git_smart_http.h.
enum class Phase : size_t {
    parse,
    negotiate,
    count,
    plan,
    write,
    receive,
    index,
    check,
    refs,
    hooks,
};
inline constexpr size_t kPhaseCount = static_cast<size_t>(Phase::hooks) + 1;

class PhaseTimes {
  public:
    // Seconds on a monotonic clock; a test gives its own.
    using Clock = std::function<double()>;
    static double steady_seconds();

    explicit PhaseTimes(Clock clock = steady_seconds) : clock_(std::move(clock)) {
        seconds_.fill(-1);
    }

    void add(Phase p, double seconds);
    // -1 when the phase was never entered.
    double seconds(Phase p) const { return seconds_[static_cast<size_t>(p)]; }
    double now() const { return clock_(); }

    // Adds the time from its construction to its end (an exception
    // included) to one phase.
    class Scope {
      public:
        Scope(PhaseTimes *times, Phase p)
            : times_(times), phase_(p), start_(times ? times->now() : 0) {}
        ~Scope() {
            if (times_)
                times_->add(phase_, times_->now() - start_);
        }
        Scope(const Scope &) = delete;
        Scope &operator=(const Scope &) = delete;

      private:
        PhaseTimes *times_;
        Phase phase_;
        double start_;
    };

  private:
    Clock clock_;
    std::array<double, kPhaseCount> seconds_;
};

} // namespace gsh
