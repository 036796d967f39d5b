// The progress lines git's progress.c prints ("Receiving objects:  42%
// (420/1000), 1.20 MiB | 2.40 MiB/s\r" ... ", done.\n"), made from counts
// and a clock the caller passes in, so that the text is testable.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace gsh {

// git's strbuf_humanise_bytes() (rate: strbuf_humanise_rate()): "3 bytes",
// "1.50 KiB", "12.00 MiB/s".
std::string humanise_size(uint64_t bytes, bool rate = false);

// One title's progress as git's start_progress() (no delay) shows it on a
// stream that is not a terminal: a line whenever the percentage changes or
// a second has gone by since the last one, throughput (when fed) updated
// every half second, and the last line again with ", done.\n" at stop().
// Lines longer than 80 columns are not split as git splits them: these
// titles and counts stay shorter.
class ProgressMeter {
  public:
    using Clock = std::chrono::steady_clock;
    using Emit = std::function<void(std::string_view line)>;

    ProgressMeter(std::string title, uint64_t total, Clock::time_point start, Emit emit);

    // git's display_throughput(): total_bytes read so far.
    void throughput(uint64_t total_bytes, Clock::time_point now);
    // git's display_progress().
    void update(uint64_t n, Clock::time_point now);
    // git's stop_progress_msg(): the last line with ", <msg>.\n"; nothing
    // when update() was never called.
    void stop(Clock::time_point now, std::string_view msg = "done");
    bool started() const { return last_value_ >= 0; }

  private:
    // The one-second alarm of git's progress_update flag.
    bool take_alarm(Clock::time_point now);
    void display(uint64_t n, const char *done);
    void set_throughput_text(uint64_t total, unsigned rate_kib);

    std::string title_;
    uint64_t total_;
    Clock::time_point start_, next_alarm_;
    Emit emit_;
    int64_t last_value_ = -1;
    unsigned last_percent_ = ~0u;
    std::string counters_;
    bool alarm_pending_ = false;
    // Throughput, as progress.c's struct throughput.
    bool tp_ = false;
    uint64_t tp_curr_ = 0, tp_prev_ = 0;
    Clock::time_point tp_prev_time_;
    unsigned avg_bytes_ = 0, avg_misecs_ = 0;
    unsigned last_bytes_[8] = {}, last_misecs_[8] = {};
    unsigned tp_idx_ = 0;
    std::string tp_text_;
};

} // namespace gsh
