// A request line and headers routed as the module's content handler routes
// them, through the same C functions (ngx_module/ngx_http_git_smart_http_
// route.c, compiled as C), then answered through the core's C API on a root
// of known content: the route and the URI check never read out of bounds,
// and whatever they let through, the core finds a repository only for a
// name that is one (never one outside the root, through "..", an encoded
// dot or slash, or a symbolic link), and answers 200 or 4xx, never 5xx.
//
// Input: one flags byte (bits 0-1 the method GET, HEAD, POST, PUT; bit 2
// HTTP/1.0; bit 3 a Git-Protocol header; bit 4 receive-pack on; bit 5
// git_smart_http_dumb on), then the
// request target ("/git/<repo>/info/refs?service=..."), a newline, the
// Content-Type, a newline, the Git-Protocol value. The location is /git/.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include "../../ngx_module/ngx_http_git_smart_http_route.h"
#include "fuzz_fixture.h"
#include "git_smart_http.h"

namespace {

namespace fs = std::filesystem;

constexpr std::string_view kPrefix = "/git/";

// ROOT/repo.git (exported), ROOT/hidden.git (not exported), ROOT/link.git
// (a symbolic link to ../outside.git, exported, outside the root).
struct Root {
    std::string path;
    Root() {
        const fs::path fixture = gsh::fuzz::fixture_repo();
        const fs::path base = fs::path(gsh::fuzz::temp_folder().str()) / "route";
        path = (base / "root").string();
        fs::create_directories(path);
        const auto copy = fs::copy_options::recursive;
        fs::copy(fixture, base / "root" / "repo.git", copy);
        fs::copy(fixture, base / "root" / "hidden.git", copy);
        fs::copy(fixture, base / "outside.git", copy);
        fs::remove(base / "root" / "hidden.git" / "git-daemon-export-ok");
        for (const char *exported : {"root/repo.git", "outside.git"})
            gsh::fuzz::write_file((base / exported / "git-daemon-export-ok").string(), nullptr, 0);
        fs::create_directory_symlink("../outside.git", base / "root" / "link.git");
        if (gsh_global_init() != 0)
            abort();
    }
};

// The path of the request target, %XX-decoded as nginx does for r->uri
// (without its merging of slashes and dot segments: more reaches the checks).
std::string decode_path(std::string_view target) {
    std::string out;
    for (size_t i = 0; i < target.size() && target[i] != '?'; i++) {
        auto hex = [](char c) {
            return c >= '0' && c <= '9'   ? c - '0'
                   : c >= 'a' && c <= 'f' ? c - 'a' + 10
                   : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                          : -1;
        };
        if (target[i] == '%' && i + 2 < target.size() && hex(target[i + 1]) >= 0 &&
            hex(target[i + 2]) >= 0) {
            out += char(hex(target[i + 1]) * 16 + hex(target[i + 2]));
            i += 2;
        } else {
            out += target[i];
        }
    }
    return out;
}

std::string_view next_field(std::string_view &rest) {
    const size_t nl = rest.find('\n');
    std::string_view field = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    return field;
}

// The core's answer to a routed request: 200 only for the exported
// repository, and never a 5xx.
void answer(const Root &root, gsh_request_kind kind, std::string_view repo,
            const std::string_view *git_protocol) {
    gsh_request req{};
    req.kind = kind;
    req.root = root.path.data();
    req.root_len = root.path.size();
    req.repo = repo.data();
    req.repo_len = repo.size();
    if (git_protocol) {
        req.git_protocol = git_protocol->data();
        req.git_protocol_len = git_protocol->size();
    }
    req.allow_filter = 1;
    const int found = gsh_repository_status(&req);
    const bool is_repo = repo == "repo" || repo == "repo.git";
    if (found != (is_repo ? 200 : 404)) {
        std::fprintf(stderr, "repository \"%.*s\": %d\n", int(repo.size()), repo.data(), found);
        abort();
    }
    if (found != 200 || kind == GSH_RPC_RECEIVE_PACK)
        return;
    gsh_session *s = gsh_session_create(&req);
    if (!s)
        abort();
    const int status = gsh_session_open(s);
    if (status >= 500 || (status != 200 && status < 400)) {
        std::fprintf(stderr, "\"%.*s\" gave HTTP %d: %s\n", int(repo.size()), repo.data(), status,
                     gsh_session_message(s));
        abort();
    }
    if (status == 200) {
        static unsigned char buf[65536];
        size_t written = 0;
        int rc = GSH_AGAIN;
        for (int round = 0; rc == GSH_AGAIN && round < 1000; round++)
            rc = gsh_session_read(s, buf, sizeof buf, &written);
        if (rc != GSH_DONE) {
            std::fprintf(stderr, "response failed: %s\n", gsh_session_message(s));
            abort();
        }
    }
    gsh_session_destroy(s);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const Root root;
    if (size < 1)
        return 0;
    const unsigned flags = data[0];
    std::string_view rest(reinterpret_cast<const char *>(data + 1), size - 1);
    const std::string_view target = next_field(rest);
    const std::string_view content_type = next_field(rest);
    const std::string_view git_protocol = rest;
    const bool post = (flags & 3) == 2, get_or_head = (flags & 3) < 2;
    const bool receive_pack_on = flags & 16;
    const bool dumb_on = flags & 32;

    // nginx: r->uri (decoded), r->unparsed_uri, r->args
    const std::string uri = decode_path(target);
    const size_t q = target.find('?');
    const std::string_view args =
        q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
    if (!uri.starts_with(kPrefix))
        return 0; // another location's

    const auto *rel = reinterpret_cast<const unsigned char *>(uri.data()) + kPrefix.size();
    const unsigned char *repo = nullptr;
    size_t repo_len = 0;
    const ngx_http_gsh_route_t *route =
        ngx_http_gsh_route_find(rel, uri.size() - kPrefix.size(), &repo, &repo_len);
    if (!route)
        return 0; // 404
    const auto *begin = reinterpret_cast<const unsigned char *>(uri.data());
    if (repo < rel || repo + repo_len > begin + uri.size()) {
        std::fprintf(stderr, "the repository name is outside the URI\n");
        abort();
    }
    if (!ngx_http_gsh_route_is_safe(reinterpret_cast<const unsigned char *>(target.data()),
                                    target.size(), repo, repo_len))
        return 0; // 404
    const std::string_view name(reinterpret_cast<const char *>(repo), repo_len);
    // "" (the root itself, as git http-backend allows it) or names whose
    // every component is neither empty, "." nor "..", without \ or NUL
    for (size_t start = 0; !name.empty();) {
        const size_t slash = name.find('/', start);
        const std::string_view part = name.substr(start, slash - start);
        if (part.empty() || part == "." || part == ".." ||
            part.find_first_of(std::string_view("\\\0", 2)) != std::string_view::npos) {
            std::fprintf(stderr, "unsafe name \"%.*s\" let through\n", int(name.size()),
                         name.data());
            abort();
        }
        if (slash == std::string_view::npos)
            break;
        start = slash + 1;
    }
    if (route->post ? !post : !get_or_head)
        return 0; // 405, or 400 in HTTP/1.0

    const std::string_view *protocol = (flags & 8) ? &git_protocol : nullptr;
    if (protocol)
        (void)gsh_protocol_version(protocol->data(), protocol->size());

    switch (route->route) {
    case ngx_http_gsh_route_info_refs: {
        std::string buf(3 * args.size(), '\0');
        const unsigned char *service = nullptr;
        size_t service_len = 0;
        if (!ngx_http_gsh_route_service(reinterpret_cast<const unsigned char *>(args.data()),
                                        args.size(), reinterpret_cast<unsigned char *>(buf.data()),
                                        &service, &service_len)) {
            // the dumb protocol: 404 when off
            if (dumb_on)
                answer(root, GSH_DUMB_INFO_REFS, name, protocol);
            return 0;
        }
        if (service_len > args.size()) {
            std::fprintf(stderr, "the decoded service is longer than the query\n");
            abort();
        }
        const std::string_view svc(reinterpret_cast<const char *>(service), service_len);
        if (svc == "git-receive-pack") {
            if (receive_pack_on)
                answer(root, GSH_ADVERTISE_RECEIVE_PACK, name, protocol);
        } else if (svc == "git-upload-pack") {
            answer(root, GSH_ADVERTISE_UPLOAD_PACK, name, protocol);
        }
        return 0;
    }
    case ngx_http_gsh_route_upload_pack:
        if (content_type == "application/x-git-upload-pack-request")
            answer(root, GSH_RPC_UPLOAD_PACK, name, protocol);
        return 0;
    case ngx_http_gsh_route_receive_pack:
        if (receive_pack_on && content_type == "application/x-git-receive-pack-request")
            answer(root, GSH_RPC_RECEIVE_PACK, name, protocol);
        return 0;
    case ngx_http_gsh_route_head:
    case ngx_http_gsh_route_info_packs:
        if (dumb_on)
            answer(root,
                   route->route == ngx_http_gsh_route_head ? GSH_DUMB_HEAD : GSH_DUMB_INFO_PACKS,
                   name, protocol);
        return 0;
    case ngx_http_gsh_route_file: {
        // the file is the matched suffix, inside the URI, after the
        // repository, and under objects/: never a way out of the git folder
        size_t file_len = 0;
        const unsigned char *file =
            ngx_http_gsh_route_file_name(route, rel, uri.size() - kPrefix.size(), &file_len);
        const std::string_view f(reinterpret_cast<const char *>(file), file_len);
        if (file < repo + repo_len || file + file_len != begin + uri.size() ||
            !f.starts_with("objects/") || f.find("..") != std::string_view::npos ||
            f.find("//") != std::string_view::npos || !route->type) {
            std::fprintf(stderr, "dumb file \"%.*s\" let through\n", int(f.size()), f.data());
            abort();
        }
        if (dumb_on)
            answer(root, GSH_DUMB_FILE, name, protocol);
        return 0;
    }
    default:
        return 0;
    }
}
