// A served bare repository and a client clone of it, with request bodies of
// pushes made from the client's objects by the real git (pack-objects).
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "fixture.h"
#include "git_smart_http.h"
#include "pkt_lines.h"
#include "protocol/pkt_line.h"

namespace gsh::test {

struct Answer {
    int status = 0;
    std::string content_type, body, message;
};

class PushFixture : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_EQ(gsh_global_init(), 0);
        dir.run("git init -q --bare -b main srv.git && git clone -q srv.git cl 2>/dev/null && "
                "cd cl && echo 1 > f && git add f && git commit -qm one && "
                "echo 2 >> f && git commit -qam two && git push -q origin main 2>/dev/null");
    }

    std::string srv() const { return dir.str() + "/srv.git"; }
    std::string rev(const std::string &repo, const std::string &name) const {
        std::string out = sh("git -C '" + dir.str() + "/" + repo + "' rev-parse --verify -q '" +
                             name + "' || true");
        while (!out.empty() && out.back() == '\n')
            out.pop_back();
        return out;
    }
    std::string client(const std::string &cmd) const { return dir.run("cd cl && " + cmd); }

    // `git pack-objects --revs` of the client for rev lines ("X", "^Y").
    std::string pack(const std::vector<std::string> &revs, bool thin = false) const {
        std::string input;
        for (const std::string &r : revs)
            input += r + "\n";
        return client("printf '" + input + "' | git pack-objects -q --stdout --revs" +
                      (thin ? " --thin" : ""));
    }

    // Commands ("old new ref"), the first with caps, a flush, then rest.
    static std::string body(const std::vector<std::string> &commands, const std::string &caps,
                            const std::string &rest) {
        std::string out;
        for (size_t i = 0; i < commands.size(); i++) {
            std::string line = commands[i];
            if (i == 0) {
                line.push_back('\0');
                line += caps;
            }
            proto::pkt_write(out, line);
        }
        proto::pkt_flush(out);
        return out + rest;
    }

    Answer request(gsh_request_kind kind, const std::string &body_data, const char *user = "alice",
                   const char *encoding = nullptr, bool hooks = false) const {
        gsh_request req{};
        req.kind = kind;
        const std::string root = dir.str();
        const std::string repo = "/srv.git";
        req.root = root.data();
        req.root_len = root.size();
        req.repo = repo.data();
        req.repo_len = repo.size();
        req.export_all = 1;
        req.remote_user = user;
        req.remote_user_len = user ? std::strlen(user) : 0;
        req.remote_addr = "192.0.2.7";
        req.remote_addr_len = 9;
        req.content_encoding = encoding;
        req.content_encoding_len = encoding ? std::strlen(encoding) : 0;
        req.run_hooks = hooks;
        gsh_session *s = gsh_session_create(&req);
        Answer a;
        if (!body_data.empty())
            gsh_session_add_body(s, body_data.data(), body_data.size());
        EXPECT_EQ(gsh_session_open_on_loop(s), 0);
        a.status = gsh_session_open(s);
        a.message = gsh_session_message(s);
        if (a.status == 200) {
            a.content_type = gsh_session_content_type(s);
            unsigned char buf[4096];
            size_t n = 0;
            int rc;
            do {
                rc = gsh_session_read(s, buf, sizeof(buf), &n);
                a.body.append(reinterpret_cast<char *>(buf), n);
            } while (rc == GSH_AGAIN);
            EXPECT_EQ(rc, GSH_DONE);
        }
        gsh_session_destroy(s);
        return a;
    }

    Answer push(const std::string &body_data, const char *user = "alice") const {
        return request(GSH_RPC_RECEIVE_PACK, body_data, user);
    }

    // The incoming-* quarantine directories left in the server repository.
    size_t quarantines() const {
        size_t n = 0;
        for (const auto &e : std::filesystem::directory_iterator(srv() + "/objects"))
            n += e.path().filename().string().starts_with("incoming-");
        return n;
    }

    static std::string pkts(const std::vector<std::string> &lines) { return test::pkts(lines); }

    static constexpr const char *kZero = "0000000000000000000000000000000000000000";
    TempDir dir;
};

} // namespace gsh::test
