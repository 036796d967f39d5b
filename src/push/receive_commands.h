// The head of a receive-pack request (gitprotocol-pack, "Reference Update
// Request"): the ref update commands with the capabilities the client chose,
// and the push options; the pack follows them in the same body.
#pragma once

#include <git2.h>

#include <string>
#include <vector>

#include "protocol/pkt_line.h"
#include "util/request_body.h"

namespace gsh {

// pkt-lines read from a streamed body, with the raw bytes after them (the
// pack) available to read on.
class PktStream {
  public:
    explicit PktStream(BodyReader &in) : in_(in) {}
    // The next pkt-line; its payload (a trailing '\n' removed) in *data.
    // PktKind::End when the body ends cleanly between pkt-lines. A malformed
    // length or a body ending inside a pkt-line throws gsh::Error(400).
    proto::PktKind next(std::string *data);
    // The bytes after the last pkt-line read; 0 at the end of the body.
    size_t read_raw(void *buf, size_t cap);

  private:
    // Whether n bytes are buffered after pos_ (reading more as needed).
    bool fill(size_t n);

    BodyReader &in_;
    std::string buf_;
    size_t pos_ = 0;
};

struct RefCommand {
    git_oid old_id{};
    git_oid new_id{};
    std::string ref;
    bool is_delete() const { return git_oid_is_zero(&new_id); }
    bool is_create() const { return git_oid_is_zero(&old_id); }
};

struct ReceiveRequest {
    std::vector<RefCommand> commands;
    // Capabilities of the first command line.
    bool report_status = false, report_status_v2 = false, side_band_64k = false;
    bool quiet = false, atomic = false, push_options = false;
    std::string agent;
    std::vector<std::string> options; // the push options, when push_options
    // Shallow lines of a push from a shallow clone (read, not acted on).
    size_t shallow_lines = 0;
    // A pack follows unless every command is a deletion.
    bool pack_expected() const;
};

// Reads the commands up to their flush, then the push options up to theirs
// when the client asked for push-options and allow_push_options (what was
// advertised) says it may. At most max_bytes of pkt-lines are read. Throws
// gsh::Error(400) with git's wording for a request that breaks the protocol.
ReceiveRequest read_receive_request(PktStream &in, bool allow_push_options, size_t max_bytes);

} // namespace gsh
