// The loose objects a PackSet keeps: bounded by bytes with the least
// recently used going first, large objects never kept, safe from several
// threads.
#include "odb/object_cache.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace gsh::pack {
namespace {

git_oid id(int n) {
    git_oid o{};
    std::memcpy(o.id, &n, sizeof n);
    return o;
}

std::string text(const std::shared_ptr<const ObjectCache::Object> &o) {
    return o ? std::string(o->data.begin(), o->data.end()) : "(none)";
}

void put(ObjectCache &c, int n, const std::string &data) {
    c.insert(id(n), GIT_OBJECT_BLOB, reinterpret_cast<const uint8_t *>(data.data()), data.size());
}

TEST(ObjectCacheTest, KeepsWhatFitsAndDropsTheLeastRecentlyUsed) {
    const std::string kb(1000, 'x');
    // Room for three such objects with their bookkeeping, not four.
    ObjectCache c(3 * (kb.size() + 256), 4096);
    put(c, 1, kb);
    put(c, 2, kb);
    put(c, 3, kb);
    EXPECT_EQ(text(c.find(id(1))), kb); // 1 is now the most recently used
    put(c, 4, kb);
    EXPECT_EQ(c.find(id(2)), nullptr) << "the least recently used went";
    EXPECT_EQ(text(c.find(id(1))), kb);
    EXPECT_EQ(text(c.find(id(3))), kb);
    EXPECT_EQ(text(c.find(id(4))), kb);
    EXPECT_LE(c.bytes(), 3 * (kb.size() + 256));
    EXPECT_EQ(c.find(id(1))->type, GIT_OBJECT_BLOB);
}

TEST(ObjectCacheTest, LargeObjectsAreNotKept) {
    ObjectCache c(1 << 20, 100);
    put(c, 1, std::string(101, 'y'));
    EXPECT_EQ(c.find(id(1)), nullptr);
    EXPECT_EQ(c.bytes(), 0u);
    put(c, 2, std::string(100, 'z'));
    EXPECT_EQ(text(c.find(id(2))), std::string(100, 'z'));
}

TEST(ObjectCacheTest, AnObjectHandedOutOutlivesItsEviction) {
    ObjectCache c(1500, 1200);
    put(c, 1, std::string(1000, 'a'));
    auto held = c.find(id(1));
    put(c, 2, std::string(1000, 'b'));
    EXPECT_EQ(c.find(id(1)), nullptr);
    EXPECT_EQ(text(held), std::string(1000, 'a'));
}

TEST(ObjectCacheTest, ThreadsShareOneCache) {
    ObjectCache c(64 << 10, 1024);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; t++)
        threads.emplace_back([&c, t] {
            for (int i = 0; i < 2000; i++) {
                const int n = (i * 7 + t) % 300;
                const std::string data(size_t(n % 200), char('a' + n % 26));
                if (auto o = c.find(id(n)))
                    ASSERT_EQ(text(o), data);
                else
                    put(c, n, data);
            }
        });
    for (std::thread &t : threads)
        t.join();
    EXPECT_LE(c.bytes(), size_t(64) << 10);
}

} // namespace
} // namespace gsh::pack
