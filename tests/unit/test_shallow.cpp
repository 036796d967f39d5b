// Shallow fetches: the shallow-info section (v2) and the shallow list (v0)
// compared with git's own upload-pack; lines are compared as sets, since
// git's order follows its internal lists.
#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>

#include "upload_pack_fixture.h"

using namespace gsh;

namespace {

class Shallow : public gsh::test::UploadPackFixture {
  protected:
    // The pkt-lines of a v2 answer's shallow-info section, sorted; "none"
    // when there is no such section.
    static std::vector<std::string> shallow_info(const std::string &answer) {
        const std::string head = answer.substr(0, answer.find("PACK"));
        proto::PktReader reader(head); // reads head in place: it must outlive the reader
        std::vector<std::string> lines;
        bool in = false, seen = false;
        try {
            for (proto::Pkt p = reader.next(); p.kind != proto::PktKind::End; p = reader.next()) {
                if (p.kind == proto::PktKind::Data && p.data == "shallow-info") {
                    in = seen = true;
                    continue;
                }
                if (in && p.kind != proto::PktKind::Data)
                    break;
                if (in)
                    lines.emplace_back(p.data);
            }
        } catch (const Error &) {
            // the pack's side-band follows; what came before is all we need
        }
        std::sort(lines.begin(), lines.end());
        return seen ? lines : std::vector<std::string>{"none"};
    }
};

} // namespace

TEST_F(Shallow, ShallowInfoMatchesGit) {
    dir->run("cd repo && git tag -a -m old old-tag HEAD~4 && "
             "git checkout -q -b merged HEAD~2 && echo m > m && git add m && "
             "git commit -qm m && git checkout -q main && "
             "git merge -q --no-ff -m merge merged && git checkout -q main");
    const std::string tip = rev("main"), side = rev("side"), c2 = rev("main~2"), c4 = rev("main~4");
    const std::string since = dir->run("cd repo && git log -1 --format=%ct main~3").substr(0, 10);
    const std::string dangling =
        dir->run("cd repo && git commit-tree -m dangling main~1^{tree}").substr(0, 40);
    const std::vector<std::vector<std::string>> cases = {
        {"want " + tip, "deepen 1", "done"},
        {"want " + tip, "deepen 2", "done"},
        {"want " + tip, "want " + side, "deepen 3", "done"},
        {"want " + tip, "deepen 1000", "done"},
        {"want " + tip, "shallow " + c2, "deepen 3", "done"},          // deepen past it
        {"want " + tip, "shallow " + c2, "done"},                      // boundary only
        {"want " + tip, "shallow " + c2, "deepen 2147483647", "done"}, // --unshallow
        {"want " + tip, "shallow " + c2, "deepen-relative", "deepen 1", "done"},
        // several boundaries, one repeated, one that no ref reaches
        {"want " + tip, "shallow " + c2, "shallow " + c4, "shallow " + side, "shallow " + c2,
         "shallow " + dangling, "deepen-relative", "deepen 2", "done"},
        {"want " + tip, "deepen-since " + since, "done"},
        {"want " + tip, "deepen-not old-tag", "done"},
        {"want " + tip, "deepen-not side", "deepen-since " + since, "done"},
        {"want " + tip, "shallow " + c4, "have " + c4, "deepen 2"}, // negotiating
        {"want " + tip, "shallow 1234567890123456789012345678901234567890", "deepen 1", "done"},
    };
    for (const auto &args : cases) {
        std::string body = request("fetch", args);
        EXPECT_EQ(shallow_info(our_answer(path, body)), shallow_info(git_answer(path, body)))
            << testing::PrintToString(args);
    }
}

TEST_F(Shallow, DeepenWithDeepenSinceIsRefused) {
    std::string body =
        request("fetch", {"want " + rev("main"), "deepen 1", "deepen-since 1", "done"});
    EXPECT_THROW(our_answer(path, body), Error);
}

TEST_F(Shallow, V0ShallowListMatchesGit) {
    const std::string tip = rev("main"), c2 = rev("main~2");
    auto v0 = [&](std::vector<std::string> lines, bool done) {
        std::string out;
        proto::pkt_write_line(out, "want " + tip + " multi_ack_detailed side-band-64k ofs-delta");
        for (const std::string &l : lines)
            proto::pkt_write_line(out, l);
        proto::pkt_flush(out);
        if (done)
            proto::pkt_write_line(out, "done");
        return out;
    };
    // The shallow lines come first, up to a flush.
    auto first_section = [](const std::string &answer) {
        proto::PktReader reader(answer);
        std::vector<std::string> lines;
        for (proto::Pkt p = reader.next();
             p.kind == proto::PktKind::Data && !p.data.starts_with("ACK") && p.data != "NAK";
             p = reader.next())
            lines.emplace_back(p.data);
        std::sort(lines.begin(), lines.end());
        return lines;
    };
    for (const auto &lines : std::vector<std::vector<std::string>>{
             {"deepen 1"}, {"deepen 2"}, {"shallow " + c2, "deepen 4"}, {"shallow " + c2}}) {
        for (bool done : {false, true}) {
            std::string body = v0(lines, done);
            EXPECT_EQ(first_section(our_answer_v0(path, body)),
                      first_section(git_answer(path, body, "")))
                << testing::PrintToString(lines) << " done=" << done;
        }
    }
}

namespace {

// The pack a v2 fetch answer carries (side-band 1 after "packfile"), raw.
std::string pack_of(const std::string &answer) {
    std::string pack;
    bool in_pack = false;
    for (size_t pos = 0; pos + 4 <= answer.size();) {
        const size_t len = std::stoul(answer.substr(pos, 4), nullptr, 16);
        if (len < 4) {
            pos += 4;
            continue;
        }
        const std::string data = answer.substr(pos + 4, len - 4);
        pos += len;
        if (data == "packfile\n")
            in_pack = true;
        else if (in_pack && !data.empty() && data[0] == '\1')
            pack += data.substr(1);
    }
    return pack;
}

} // namespace

// The objects of shallow fetches, not only their shallow lines, are git's:
// on a history with a merge, a submodule entry, and tags of a tree and of a
// blob (a deepen stops at commits; what the tags point to still comes).
TEST_F(Shallow, ShallowPacksHoldGitsObjects) {
    dir->run("git init -q -b main sub && cd sub && echo s > s && git add s && git commit -qm s");
    dir->run(
        "git clone -q --bare repo shallow-src.git && git clone -q shallow-src.git w && cd w && "
        "git -c protocol.file.allow=always submodule -q add ../sub sub && git commit -qm sub && "
        "git checkout -q -b topic HEAD~2 2>/dev/null && echo t > t && git add t && git commit -qm "
        "t && "
        "git checkout -q main && git merge -q --no-ff -m merge topic && "
        "echo late >> f && git commit -qam late && "
        "git tag -a -m 'a tree' tree-tag HEAD^{tree} && "
        "git tag -a -m 'a blob' blob-tag HEAD:f && git push -q origin main topic tree-tag "
        "blob-tag");
    const std::string src = dir->str() + "/shallow-src.git";
    const std::string tip = dir->run("git --git-dir='" + src + "' rev-parse main").substr(0, 40);
    const std::string tree_tag =
        dir->run("git --git-dir='" + src + "' rev-parse tree-tag").substr(0, 40);
    const std::string blob_tag =
        dir->run("git --git-dir='" + src + "' rev-parse blob-tag").substr(0, 40);
    const std::string mid = dir->run("git --git-dir='" + src + "' rev-parse main~2").substr(0, 40);
    const std::string since =
        dir->run("git --git-dir='" + src + "' log -1 --format=%ct main~3").substr(0, 10);

    auto objects = [&](const std::string &answer, const std::string &name) {
        const std::string file = dir->str() + "/" + name + ".pack";
        std::ofstream(file, std::ios::binary) << pack_of(answer);
        dir->run("git index-pack -o '" + dir->str() + "/" + name + ".idx' '" + file +
                 "' >/dev/null");
        std::string listing = dir->run("git show-index < '" + dir->str() + "/" + name +
                                       ".idx' | cut -d' ' -f2 | sort");
        return listing;
    };
    const std::vector<std::vector<std::string>> cases = {
        {"want " + tip, "deepen 1", "done"},
        {"want " + tip, "deepen 3", "done"},
        {"want " + tip, "want " + tree_tag, "want " + blob_tag, "deepen 1", "done"},
        {"want " + tip, "shallow " + mid, "deepen 2", "done"},
        {"want " + tip, "shallow " + mid, "deepen-relative", "deepen 1", "done"},
        {"want " + tip, "deepen-since " + since, "done"},
        {"want " + tip, "deepen-not topic", "done"},
    };
    for (const auto &args : cases) {
        SCOPED_TRACE(testing::PrintToString(args));
        std::vector<std::string> with_caps = {"ofs-delta", "no-progress"};
        with_caps.insert(with_caps.end(), args.begin(), args.end());
        const std::string body = request("fetch", with_caps);
        std::unique_ptr<PackSection> pack;
        std::string ours = our_answer(src, body, &pack);
        ASSERT_NE(pack, nullptr);
        std::vector<uint8_t> buf(65536);
        std::string spill;
        while (!pack->finished()) {
            const size_t n = pack->produce(buf.data(), buf.size(), &spill);
            ours.append(reinterpret_cast<const char *>(buf.data()), n);
            ours += spill;
            spill.clear();
        }
        const std::string theirs = git_answer(src, body);
        EXPECT_EQ(shallow_info(ours), shallow_info(theirs));
        const std::string a = objects(ours, "ours"), b = objects(theirs, "theirs");
        EXPECT_FALSE(b.empty());
        EXPECT_EQ(a, b);
    }
}
