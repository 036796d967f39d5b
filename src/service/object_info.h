// The v2 object-info command (gitprotocol-v2): the size of objects by id,
// answered byte for byte as git 2.39's upload-pack answers it.
#pragma once

#include <git2.h>

#include <string>

#include "protocol/v2_request.h"

namespace gsh {

// Lines git refuses ("ERR object-info: ...") are part of the answer, as in
// git, which writes them and goes on; the client dies at the first one.
std::string object_info(git_repository *repo, const proto::V2Request &req);

} // namespace gsh
