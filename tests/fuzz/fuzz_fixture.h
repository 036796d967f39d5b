// What the fuzz targets share: the fixture repository made at start-up by
// make_fixture.sh (its object ids are those the seed requests name), a
// check that a client's mistake is a 4xx, and temp files for the targets
// whose code reads files.
#pragma once

#include <git2.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "service/pack_section.h"
#include "util/error.h"

#ifndef GSH_FUZZ_FIXTURE_SCRIPT
#error "GSH_FUZZ_FIXTURE_SCRIPT must name make_fixture.sh (the Makefile sets it)"
#endif

namespace gsh::fuzz {

// A folder under TMPDIR, removed at exit (libFuzzer leaves by exit() after
// -runs or -max_total_time).
class TempFolder {
  public:
    TempFolder() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "gsh-fuzz-XXXXXX").string();
        if (!mkdtemp(tmpl.data()))
            abort();
        path_ = tmpl;
    }
    ~TempFolder() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempFolder(const TempFolder &) = delete;
    TempFolder &operator=(const TempFolder &) = delete;
    const std::string &str() const { return path_; }

  private:
    std::string path_;
};

inline TempFolder &temp_folder() {
    static TempFolder folder;
    return folder;
}

// The fixture's bare repository, made on first use.
inline const std::string &fixture_repo() {
    static const std::string path = [] {
        git_libgit2_init();
        git_libgit2_opts(GIT_OPT_SET_OWNER_VALIDATION, 0);
        const std::string dir = temp_folder().str();
        const std::string cmd = "'" GSH_FUZZ_FIXTURE_SCRIPT "' '" + dir + "' >/dev/null";
        if (std::system(cmd.c_str()) != 0) {
            std::fprintf(stderr, "fuzz fixture: %s failed\n", cmd.c_str());
            abort();
        }
        return dir + "/repo.git";
    }();
    return path;
}

// A client's malformed request must be refused with a 4xx: a 5xx would
// blame the server for the client's bytes.
inline void expect_client_error(const Error &e) {
    if (e.http_status() < 400 || e.http_status() > 499) {
        std::fprintf(stderr, "client input gave HTTP %d: %s\n", e.http_status(), e.what());
        abort();
    }
}

// Streams a pack section to its end into a scratch buffer, as the module
// does; the fixture is small, so a sane pack ends within a few rounds.
inline void drain(PackSection &pack) {
    static uint8_t buf[65536];
    std::string spill;
    for (int round = 0; !pack.finished(); round++) {
        if (round > 10000) {
            std::fprintf(stderr, "pack section does not finish\n");
            abort();
        }
        spill.clear();
        pack.produce(buf, sizeof buf, &spill);
    }
}

// Replaces the file at path with data.
inline void write_file(const std::string &path, const uint8_t *data, size_t size) {
    FILE *f = std::fopen(path.c_str(), "wb");
    if (!f || (size && std::fwrite(data, 1, size, f) != size) || std::fclose(f) != 0)
        abort();
}

} // namespace gsh::fuzz
