#include "service/object_info.h"

#include <string_view>
#include <vector>

#include "protocol/pkt_line.h"
#include "util/git_ptr.h"
#include "util/error.h"

namespace gsh {

namespace {

bool is_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// As git's get_oid_hex(): the first 40 characters are the id, whatever follows.
bool leading_oid(std::string_view text, git_oid *oid) {
    if (text.size() < GIT_OID_HEXSZ)
        return false;
    for (size_t i = 0; i < GIT_OID_HEXSZ; i++)
        if (!is_hex(text[i]))
            return false;
    return git_oid_fromstrn(oid, text.data(), GIT_OID_HEXSZ) == 0;
}

// The ERR lines quote the client; git dies when that makes a line too long.
void write_err(std::string &out, const std::string &text) {
    if (text.size() + 8 > proto::kMaxPktLen)
        throw Error("protocol error: impossibly long line", 400);
    proto::pkt_write(out, "ERR " + text);
}

} // namespace

std::string object_info(git_repository *repo, const proto::V2Request &req) {
    std::string out;
    // git 2.39 leaves its "size was asked for" flag uninitialised when the
    // client does not send "size" (fixed in 2.40): size only when asked.
    bool size = false;
    std::vector<std::string_view> oids;
    for (const std::string &arg : req.args) {
        std::string_view a = arg;
        if (a == "size")
            size = true;
        else if (a.starts_with("oid "))
            oids.push_back(a.substr(4));
        else
            write_err(out, "object-info: unexpected line: '" + arg + "'");
    }
    if (!oids.empty()) {
        if (size)
            proto::pkt_write(out, "size");
        git_odb *odb_raw = nullptr;
        git_check(git_repository_odb(&odb_raw, repo), "opening the object database");
        OdbPtr odb(odb_raw);
        for (std::string_view text : oids) {
            git_oid oid;
            if (!leading_oid(text, &oid)) {
                write_err(out, "object-info: protocol error, expected to get oid, not '" +
                                   std::string(text) + "'");
                continue;
            }
            std::string line(text);
            if (size) {
                size_t len = 0;
                git_object_t type;
                // A missing object gets an empty size, as in git.
                line += ' ';
                if (git_odb_read_header(&len, &type, odb.get(), &oid) == 0)
                    line += std::to_string(len);
            }
            if (line.size() + 4 > proto::kMaxPktLen)
                throw Error("protocol error: impossibly long line", 400);
            proto::pkt_write(out, line);
        }
    }
    proto::pkt_flush(out);
    return out;
}

} // namespace gsh
