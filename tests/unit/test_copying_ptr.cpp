#include "util/copying_ptr.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>

namespace gsh {
namespace {

struct Holder {
    CopyingPtr<std::string> text;
    int n = 0;
};

TEST(CopyingPtr, CopyIsDeepAndNullStaysNull) {
    Holder a;
    a.n = 3;
    Holder b = a;
    EXPECT_EQ(b.text, nullptr);
    a.text = std::make_unique<std::string>("abc");
    Holder c = a;
    ASSERT_NE(c.text, nullptr);
    EXPECT_NE(c.text.get(), a.text.get());
    EXPECT_EQ(*c.text, "abc");
    *c.text += "d";
    EXPECT_EQ(*a.text, "abc");
    EXPECT_EQ(c.n, 3);
}

TEST(CopyingPtr, AssignmentCopiesMoveTakes) {
    CopyingPtr<std::string> a = std::make_unique<std::string>("x"), b;
    b = a;
    ASSERT_NE(b, nullptr);
    EXPECT_NE(b.get(), a.get());
    EXPECT_EQ(*b, "x");
    b = CopyingPtr<std::string>();
    EXPECT_EQ(b, nullptr);
    const std::string *p = a.get();
    CopyingPtr<std::string> c = std::move(a);
    EXPECT_EQ(c.get(), p);
    EXPECT_EQ(a, nullptr);
    a = c;
    EXPECT_EQ(*a, "x");
    const CopyingPtr<std::string> &same = c;
    c = same; // a self-copy keeps the object
    EXPECT_EQ(c.get(), p);
}

} // namespace
} // namespace gsh
