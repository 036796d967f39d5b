// "Enumerating objects: N" as git's pack-objects reports it while counting.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include "walk/enumerate.h"

namespace gsh::pack {

// Reports at most a few times a second, and checks in with empty text every
// 1024 objects, so that the receiver may stop a long count by throwing.
class EnumerateProgress {
  public:
    explicit EnumerateProgress(ProgressFn fn) : fn_(std::move(fn)) {
        if (fn_)
            last_ = std::chrono::steady_clock::now();
    }
    void tick(size_t n) {
        if (!fn_ || (n & 1023) != 0)
            return;
        if ((n & 4095) == 0) {
            auto now = std::chrono::steady_clock::now();
            if (now - last_ >= std::chrono::milliseconds(250)) {
                last_ = now;
                fn_("Enumerating objects: " + std::to_string(n) + "\r");
                return;
            }
        }
        fn_(std::string_view());
    }
    // For walks that count nothing the client sees (history, what the
    // haves reach): only the check-in.
    void check_in() {
        if (fn_ && (++calls_ & 1023) == 0)
            fn_(std::string_view());
    }
    void done(size_t n) {
        if (fn_)
            fn_("Enumerating objects: " + std::to_string(n) + ", done.\n");
    }

  private:
    ProgressFn fn_; // a copy: callers pass temporaries
    std::chrono::steady_clock::time_point last_;
    size_t calls_ = 0;
};

} // namespace gsh::pack
