// Object ids read from the 40 hex digits a client sends.
#include <gtest/gtest.h>

#include <string>

#include "util/oid_hex.h"

namespace gsh {
namespace {

TEST(OidHexTest, ReadsEitherCaseAndRoundTrips) {
    const std::string hex = "0123456789abcdef0123456789abcdef01234567";
    git_oid oid;
    ASSERT_TRUE(parse_oid(hex, &oid));
    EXPECT_EQ(oid_hex(oid), hex);
    EXPECT_EQ(oid.id[0], 0x01);
    EXPECT_EQ(oid.id[19], 0x67);
    git_oid upper;
    ASSERT_TRUE(parse_oid("0123456789ABCDEF0123456789ABCDEF01234567", &upper));
    EXPECT_TRUE(git_oid_equal(&oid, &upper));
    ASSERT_TRUE(parse_oid(std::string(40, 'f'), &oid));
    EXPECT_EQ(oid_hex(oid), std::string(40, 'f'));
}

TEST(OidHexTest, RefusesAnythingElseAndLeavesTheOutputAlone) {
    const std::string good = "0123456789abcdef0123456789abcdef01234567";
    git_oid oid, before;
    ASSERT_TRUE(parse_oid(good, &before));
    oid = before;
    EXPECT_FALSE(parse_oid(good.substr(0, 39), &oid));
    EXPECT_FALSE(parse_oid(good + "0", &oid));
    EXPECT_FALSE(parse_oid("", &oid));
    // Every position, with characters next to the digits' ranges and
    // bytes outside ASCII.
    for (size_t i = 0; i < good.size(); i++)
        for (char c : {'g', 'G', '/', ':', '@', '`', ' ', '\0', '\xff', '\x80'}) {
            std::string bad = good;
            bad[i] = c;
            EXPECT_FALSE(parse_oid(bad, &oid)) << "at " << i << ": " << int(c);
        }
    EXPECT_TRUE(git_oid_equal(&oid, &before)) << "a refused id changed the output";
}

} // namespace
} // namespace gsh
