#include "push/progress_meter.h"

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <utility>

namespace gsh {

namespace {

constexpr auto kAlarm = std::chrono::seconds(1);
constexpr auto kThroughputEvery = std::chrono::milliseconds(500);

// progress.c's "misecs": 1024ths of a second.
unsigned misecs(ProgressMeter::Clock::duration d) {
    const uint64_t ns = uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
    return unsigned((ns * 4398) >> 32);
}

} // namespace

std::string humanise_size(uint64_t bytes, bool rate) {
    char buf[64];
    if (bytes > (uint64_t{1} << 30)) {
        std::snprintf(buf, sizeof buf, "%u.%2.2u %s", unsigned(bytes >> 30),
                      unsigned(bytes & ((1u << 30) - 1)) / 10737419, rate ? "GiB/s" : "GiB");
    } else if (bytes > (1u << 20)) {
        const unsigned x = unsigned(bytes + 5243);
        std::snprintf(buf, sizeof buf, "%u.%2.2u %s", x >> 20, ((x & ((1u << 20) - 1)) * 100) >> 20,
                      rate ? "MiB/s" : "MiB");
    } else if (bytes > (1u << 10)) {
        const unsigned x = unsigned(bytes + 5);
        std::snprintf(buf, sizeof buf, "%u.%2.2u %s", x >> 10, ((x & ((1u << 10) - 1)) * 100) >> 10,
                      rate ? "KiB/s" : "KiB");
    } else {
        const char *unit = bytes == 1 ? (rate ? "byte/s" : "byte") : (rate ? "bytes/s" : "bytes");
        std::snprintf(buf, sizeof buf, "%u %s", unsigned(bytes), unit);
    }
    return buf;
}

ProgressMeter::ProgressMeter(std::string title, uint64_t total, Clock::time_point start, Emit emit)
    : title_(std::move(title)), total_(total), start_(start), next_alarm_(start + kAlarm),
      emit_(std::move(emit)) {}

bool ProgressMeter::take_alarm(Clock::time_point now) {
    if (now >= next_alarm_) {
        alarm_pending_ = true;
        while (next_alarm_ <= now)
            next_alarm_ += kAlarm;
    }
    return alarm_pending_;
}

void ProgressMeter::set_throughput_text(uint64_t total, unsigned rate_kib) {
    // As git, the rate in bytes is an unsigned int product.
    tp_text_ =
        ", " + humanise_size(total) + " | " + humanise_size(uint32_t(rate_kib * 1024u), true);
}

void ProgressMeter::throughput(uint64_t total_bytes, Clock::time_point now) {
    take_alarm(now);
    if (!tp_) {
        tp_ = true;
        tp_prev_ = tp_curr_ = total_bytes;
        tp_prev_time_ = now;
        return;
    }
    tp_curr_ = total_bytes;
    if (now - tp_prev_time_ <= kThroughputEvery)
        return;
    const unsigned ms = misecs(now - tp_prev_time_);
    const unsigned count = unsigned(total_bytes - tp_prev_);
    tp_prev_ = total_bytes;
    tp_prev_time_ = now;
    avg_bytes_ += count;
    avg_misecs_ += ms;
    const unsigned rate = avg_misecs_ ? avg_bytes_ / avg_misecs_ : 0;
    avg_bytes_ -= last_bytes_[tp_idx_];
    avg_misecs_ -= last_misecs_[tp_idx_];
    last_bytes_[tp_idx_] = count;
    last_misecs_[tp_idx_] = ms;
    tp_idx_ = (tp_idx_ + 1) % 8;
    set_throughput_text(total_bytes, rate);
    if (last_value_ >= 0 && alarm_pending_)
        display(uint64_t(last_value_), nullptr);
}

void ProgressMeter::update(uint64_t n, Clock::time_point now) {
    take_alarm(now);
    display(n, nullptr);
}

void ProgressMeter::stop(Clock::time_point now, std::string_view msg) {
    if (last_value_ < 0)
        return;
    if (tp_) {
        const unsigned ms = misecs(now - start_);
        set_throughput_text(tp_curr_, unsigned(tp_curr_ / (ms ? ms : 1)));
    }
    alarm_pending_ = true;
    const std::string done = ", " + std::string(msg) + ".\n";
    display(uint64_t(last_value_), done.c_str());
    last_value_ = -1;
}

void ProgressMeter::display(uint64_t n, const char *done) {
    const bool update = alarm_pending_;
    alarm_pending_ = false;
    const size_t last_len = counters_.size();
    last_value_ = int64_t(n);
    if (total_) {
        const unsigned percent = unsigned(n * 100 / total_);
        if (percent == last_percent_ && !update)
            return;
        last_percent_ = percent;
        char buf[80];
        std::snprintf(buf, sizeof buf, "%3u%% (%" PRIu64 "/%" PRIu64 ")", percent, n, total_);
        counters_ = buf + tp_text_;
    } else if (update) {
        counters_ = std::to_string(n) + tp_text_;
    } else {
        return;
    }
    // git pads the end of line with spaces over what a longer line left.
    const char *eol = done ? done : "\r";
    const size_t clear = counters_.size() < last_len ? last_len - counters_.size() + 1 : 0;
    std::string line = title_ + ": " + counters_;
    if (clear > std::strlen(eol))
        line.append(clear - std::strlen(eol), ' ');
    line += eol;
    emit_(line);
}

} // namespace gsh
