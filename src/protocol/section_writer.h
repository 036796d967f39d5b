// The lines of a v2 fetch response before the pack. With sideband-all
// (gitprotocol-v2) the client demultiplexes the whole response, so every
// line but flush and delim carries a band byte: 1 for data, 3 for an error.
#pragma once

#include <string>
#include <string_view>

#include "protocol/pkt_line.h"

namespace gsh::proto {

class SectionWriter {
  public:
    explicit SectionWriter(std::string &out) : out_(out) {}

    void set_sideband(bool on) { sideband_ = on; }
    bool sideband() const { return sideband_; }

    // line + '\n', as git writes section headers and most section lines.
    void line(std::string_view text) { write(std::string(text) + '\n'); }
    // Exactly text: git writes a few lines ("shallow <oid>") without '\n'.
    void bare(std::string_view text) { write(std::string(text)); }
    // What the client dies with: "ERR text", or band 3 under sideband-all.
    void error(std::string_view text) {
        pkt_write(out_, (sideband_ ? std::string("\3") : std::string("ERR ")) + std::string(text));
    }
    void delim() { pkt_delim(out_); }
    void flush() { pkt_flush(out_); }

  private:
    void write(const std::string &payload) {
        pkt_write(out_, sideband_ ? "\1" + payload : payload);
    }

    std::string &out_;
    bool sideband_ = false;
};

} // namespace gsh::proto
