// The repository configuration upload-pack obeys.
#pragma once

#include <git2.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/filter.h"

namespace gsh {

// uploadpack.hideRefs and transfer.hideRefs, as git's ref_is_hidden() reads
// them: the last matching pattern wins, '!' negates, '^' matches the full name.
class HiddenRefs {
  public:
    void add(std::string pattern);
    bool hidden(std::string_view refname) const;
    bool empty() const { return patterns_.empty(); }

  private:
    std::vector<std::string> patterns_;
};

// Unadvertised objects a client may want (uploadpack.allow*SHA1InWant).
enum AllowUor : unsigned {
    kAllowTipSha1 = 0x01,
    kAllowReachableSha1 = 0x02,
    kAllowAnySha1 = 0x07,
};

// The operator's published base packs (git_smart_http_publish and the
// directives beside it; see service/publish.h).
struct PublishConfig {
    std::string dir; // "": off
    // A new base once the current one is this old and the refs changed.
    int64_t interval = 3600;
    // A replaced base's files stay this long, for the clones given its URIs.
    int64_t grace = 3600;
    // Where clients find the files: a URL that the file names follow.
    std::string url;
    bool packfile_uris = false; // offered to v2 clones that ask for them
    bool bundle_uri = false;    // the v2 bundle-uri command
};

struct UploadPackConfig {
    HiddenRefs hidden;
    unsigned allow_uor = 0;
    bool http_uploadpack = true; // http.uploadpack: false refuses the service
    bool http_getanyfile = true; // http.getanyfile: false refuses dumb HTTP
    // uploadpack.allowFilter, and false when the operator refuses filters.
    bool allow_filter = false;
    pack::FilterPolicy filter_policy; // uploadpackfilter.*
    // Protocol v2 features that git advertises and accepts only when asked to.
    bool allow_ref_in_want = false;  // uploadpack.allowRefInWant: want-ref
    bool allow_sideband_all = false; // uploadpack.allowSidebandAll
    bool advertise_sid = false;      // transfer.advertiseSID: session-id
    // uploadpack.keepAlive: seconds of silence before a keepalive while a
    // pack is prepared; 0 or less sends none.
    int keepalive = 5;
    // The operator's limits per request (nginx directives); 0 is unlimited.
    size_t max_wants = 0;
    size_t max_haves = 0;
    PublishConfig publish;
};

UploadPackConfig load_upload_pack_config(git_repository *repo);

} // namespace gsh
