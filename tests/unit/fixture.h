// Fixture repositories for unit tests, made by the real git in a temporary
// folder that is removed when the fixture goes away.
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace gsh::test {

// Runs a shell command; returns its stdout, fails the test on a non-zero exit.
inline std::string sh(const std::string &cmd) {
    std::string out;
    FILE *p = popen(cmd.c_str(), "r");
    if (!p) {
        ADD_FAILURE() << "popen failed: " << cmd;
        return out;
    }
    std::array<char, 4096> buf;
    size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), p)) > 0)
        out.append(buf.data(), n);
    int rc = pclose(p);
    EXPECT_EQ(rc, 0) << "command failed: " << cmd << "\n" << out;
    return out;
}

// A temporary folder; git's identity and config are fixed so that runs repeat.
class TempDir {
public:
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "gsh-test-XXXXXX").string();
        if (!mkdtemp(tmpl.data()))
            throw std::runtime_error("mkdtemp failed");
        path_ = tmpl;
        setenv("GIT_AUTHOR_NAME", "A U Thor", 1);
        setenv("GIT_AUTHOR_EMAIL", "author@example.com", 1);
        setenv("GIT_COMMITTER_NAME", "C O Mitter", 1);
        setenv("GIT_COMMITTER_EMAIL", "committer@example.com", 1);
        setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
        setenv("GIT_CONFIG_GLOBAL", "/dev/null", 1);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir &) = delete;
    TempDir &operator=(const TempDir &) = delete;

    const std::filesystem::path &path() const { return path_; }
    std::string str() const { return path_.string(); }
    // Runs cmd with the folder as working directory.
    std::string run(const std::string &cmd) const { return sh("cd '" + str() + "' && " + cmd); }

private:
    std::filesystem::path path_;
};

} // namespace gsh::test
