#include "odb/pack_format.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "fixture.h"
#include "util/oid_hex.h"
#include "util/sha1.h"

namespace gsh::pack {
namespace {

// Ids of each type, whole and streamed, against `git hash-object`; one Sha1
// serves them all, as the callers reuse theirs.
TEST(ObjectHash, MatchesGitHashObject) {
    test::TempDir dir;
    const std::string path = dir.str() + "/f";
    const std::string tree_entry = std::string("100644 a\0", 9) + std::string(20, '\x11') +
                                   "40000 d" + '\0' + std::string(20, '\x22');
    const struct {
        int type;
        std::string data;
    } cases[] = {
        {kBlob, ""},
        {kBlob, "hello\n"},
        {kBlob, std::string(70000, 'x') + std::string("\0\xff", 2)},
        {kTree, tree_entry},
        {kCommit, "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor A <a@b> 1 +0000\n"
                  "committer A <a@b> 1 +0000\n\nm\n"},
        {kTag, "object 4b825dc642cb6eb9a060e54bf8d69288fbee4904\ntype tree\ntag t\n"
               "tagger A <a@b> 1 +0000\n\nm\n"},
    };
    Sha1 sha;
    for (const auto &c : cases) {
        std::ofstream(path, std::ios::binary) << c.data;
        const std::string want =
            test::sh(std::string("git hash-object --literally --no-filters -t ") +
                     type_name(c.type) + " '" + path + "'");
        const auto *data = reinterpret_cast<const uint8_t *>(c.data.data());
        EXPECT_EQ(oid_hex(object_hash(sha, c.type, data, c.data.size())) + "\n", want)
            << type_name(c.type) << " of " << c.data.size() << " bytes";

        start_object_hash(sha, c.type, c.data.size());
        for (size_t off = 0; off < c.data.size(); off += 1000)
            sha.update(data + off, std::min<size_t>(1000, c.data.size() - off));
        EXPECT_EQ(Sha1::hex(sha.final()) + "\n", want) << "streamed " << type_name(c.type);
    }
}

TEST(ObjectHash, EmptyBlobAndTree) {
    Sha1 sha;
    EXPECT_EQ(oid_hex(object_hash(sha, kBlob, nullptr, 0)),
              "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
    EXPECT_EQ(oid_hex(object_hash(sha, kTree, nullptr, 0)),
              "4b825dc642cb6eb9a060e54bf8d69288fbee4904");
}

} // namespace
} // namespace gsh::pack
