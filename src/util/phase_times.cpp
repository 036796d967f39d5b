#include "util/phase_times.h"

#include <chrono>

namespace gsh {

double PhaseTimes::steady_seconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

void PhaseTimes::add(Phase p, double seconds) {
    double &s = seconds_[static_cast<size_t>(p)];
    // A clock that steps back is not a negative phase.
    s = (s < 0 ? 0 : s) + (seconds > 0 ? seconds : 0);
}

} // namespace gsh
