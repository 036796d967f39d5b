// What a fetch may send while its read task is still counting objects and
// planning the pack, which can take long before the first pack byte:
// progress lines as the count makes them, and keepalives as git's
// upload-pack sends them, so that the client and any proxy in between see
// the response alive. A push likewise, while its read task does the push:
// its progress, hook output and keepalives, as git's receive-pack sends them.
//
// Two threads use it: the read task (open, post, close; a push's indexer
// may post from a thread of its own) and the event loop
// (take), which sends what it takes straight away. One mutex guards every
// member; no call holds it longer than a copy of a few pkt-lines.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

namespace gsh {

class InterimOutput {
  public:
    using Clock = std::chrono::steady_clock;

    // keepalive_seconds: silence before an empty side-band 1 pkt-line
    // (uploadpack.keepAlive, receive.keepAlive); 0 or less sends none. A
    // push turns them on only once its pack is read, with the window open.
    void set_keepalive(int keepalive_seconds);

    // The read task starts its long work with nothing written into its
    // buffer: what the event loop takes from now on goes out after
    // everything before it and before what the read returns.
    void open(Clock::time_point now);
    // Whole side-band pkt-lines, made by the read task.
    void post(std::string_view pkts);
    // The long work is over (or failed): take() gives nothing more. Returns
    // what was posted and not taken, for the read to send first.
    std::string close();

    // From the event loop. Writes whole pkt-lines into buf, at most cap
    // bytes: posted progress, or a keepalive when nothing went out for the
    // keepalive time. Returns 0 when there is nothing to send or interim
    // output is not allowed now (no window open).
    size_t take(uint8_t *buf, size_t cap, Clock::time_point now);

  private:
    std::mutex mu_;
    bool open_ = false;
    int keepalive_seconds_ = 0;
    std::string posted_;
    Clock::time_point last_sent_;
};

} // namespace gsh
