#include "service/session_id.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <ctime>

#include "util/sha1.h"

namespace gsh {

std::string new_session_id() {
    static std::atomic<unsigned long> sequence{0};
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    tm utc{};
    gmtime_r(&now.tv_sec, &utc);
    char when[64];
    std::snprintf(when, sizeof(when), "%04d%02d%02dT%02d%02d%02d.%06ldZ", utc.tm_year + 1900,
                  utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                  long(now.tv_nsec / 1000));

    std::string host = "Localhost";
    char name[256] = {};
    if (gethostname(name, sizeof(name) - 1) == 0) {
        std::string_view n(name);
        host = "H" + pack::Sha1::hex(pack::Sha1::of(n.data(), n.size())).substr(0, 8);
    }
    char tail[48];
    std::snprintf(tail, sizeof(tail), "-P%08x-S%lu", unsigned(getpid()), ++sequence);
    return std::string(when) + "-" + host + tail;
}

} // namespace gsh
