#include <gtest/gtest.h>

#include <string>

#include "push/ident.h"

using gsh::ident_without_crud;

TEST(Ident, PlainNamesAreKept) {
    EXPECT_EQ(ident_without_crud("alice"), "alice");
    EXPECT_EQ(ident_without_crud("Alice Smith"), "Alice Smith");
    EXPECT_EQ(ident_without_crud("alice@http.127.0.0.1"), "alice@http.127.0.0.1");
}

TEST(Ident, CrudAtTheEndsGoes) {
    EXPECT_EQ(ident_without_crud("  <alice>; "), "alice");
    EXPECT_EQ(ident_without_crud("\"'alice,:\\"), "alice");
    EXPECT_EQ(ident_without_crud("\t\x01"
                                 "alice\x1f"),
              "alice");
}

TEST(Ident, DelimitersInsideGo) {
    // what would otherwise end the name and start a forged e-mail or line
    EXPECT_EQ(ident_without_crud("eve> 0 +0000\nx <y"), "eve 0 +0000x y");
    EXPECT_EQ(ident_without_crud("a,b;c"), "a,b;c");
}

TEST(Ident, AllCrudIsEmpty) {
    EXPECT_EQ(ident_without_crud(" <>;, "), "");
    EXPECT_EQ(ident_without_crud(""), "");
}

TEST(Ident, StopsAtNul) {
    EXPECT_EQ(ident_without_crud(std::string("bob\0mallory", 11)), "bob");
}
