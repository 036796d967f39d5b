#include "service/interim.h"

#include <cstring>

namespace gsh {

namespace {

// git's keepalive: an empty pkt-line on the pack's band, which the client
// reads as zero pack bytes.
constexpr char kKeepalive[] = "0005\x01";
constexpr size_t kKeepaliveLen = sizeof(kKeepalive) - 1;

// Length of the pkt-line at the front of s, or 0 if s holds no whole one.
// posted_ holds only pkt-lines this process wrote, so a malformed length
// cannot occur; it would end the copy, not overrun it.
size_t front_pkt(std::string_view s) {
    if (s.size() < 4)
        return 0;
    size_t len = 0;
    for (size_t i = 0; i < 4; i++) {
        const char c = s[i];
        const int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0)
            return 0;
        len = len * 16 + size_t(v);
    }
    if (len < 4 || len > s.size())
        return 0;
    return len;
}

} // namespace

void InterimOutput::set_keepalive(int keepalive_seconds) {
    std::lock_guard<std::mutex> lock(mu_);
    keepalive_seconds_ = keepalive_seconds;
}

void InterimOutput::open(Clock::time_point now) {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    last_sent_ = now;
}

void InterimOutput::post(std::string_view pkts) {
    std::lock_guard<std::mutex> lock(mu_);
    posted_.append(pkts);
}

std::string InterimOutput::close() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = false;
    std::string rest;
    rest.swap(posted_);
    return rest;
}

size_t InterimOutput::take(uint8_t *buf, size_t cap, Clock::time_point now) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!open_)
        return 0;
    size_t n = 0;
    std::string_view rest(posted_);
    while (size_t len = front_pkt(rest.substr(0, cap - n))) {
        n += len;
        rest.remove_prefix(len);
    }
    if (n > 0) {
        std::memcpy(buf, posted_.data(), n);
        posted_.erase(0, n);
        last_sent_ = now;
        return n;
    }
    if (keepalive_seconds_ <= 0 || cap < kKeepaliveLen ||
        now - last_sent_ < std::chrono::seconds(keepalive_seconds_))
        return 0;
    std::memcpy(buf, kKeepalive, kKeepaliveLen);
    last_sent_ = now;
    return kKeepaliveLen;
}

} // namespace gsh
