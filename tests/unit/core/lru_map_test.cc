// The bounded map under the client-keyed maps: it never holds more than its bound (unless
// everything is pinned), evicts expired entries before recently used ones, then the least
// recently used, and never evicts a pinned entry.
#include "core/lru_map.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace regcache::core {
namespace {

struct Item {
  int value = 0;
  bool expired = false;
  bool pinned = false;
};

bool is_pinned(const Item &item) {
  return item.pinned;
}
bool is_expired(const Item &item) {
  return item.expired;
}

Item &insert(LruMap<Item> &map, const std::string &key, int value) {
  Item &item = map.find_or_insert(key, is_pinned, is_expired);
  item.value = value;
  return item;
}

std::vector<std::string> keys_of(const LruMap<Item> &map) {
  std::vector<std::string> keys;
  map.for_each([&](std::string_view key, const Item &) { keys.emplace_back(key); });
  return keys;
}

TEST(LruMapTest, FindsWhatWasInserted) {
  LruMap<Item> map(4);
  insert(map, "a", 1);
  bool inserted = true;
  EXPECT_EQ(map.find_or_insert("a", is_pinned, is_expired, &inserted).value, 1);
  EXPECT_FALSE(inserted);
  ASSERT_NE(map.find("a"), nullptr);
  EXPECT_EQ(map.find("a")->value, 1);
  EXPECT_EQ(map.find("b"), nullptr);
}

TEST(LruMapTest, NeverHoldsMoreThanItsBound) {
  LruMap<Item> map(100);
  for (int i = 0; i < 10000; ++i) {
    insert(map, "key" + std::to_string(i), i);
    ASSERT_LE(map.size(), 100u);
  }
  EXPECT_EQ(map.size(), 100u);
  EXPECT_NE(map.find("key9999"), nullptr);
  EXPECT_EQ(map.find("key0"), nullptr);
}

TEST(LruMapTest, EvictsTheLeastRecentlyUsedEntry) {
  LruMap<Item> map(3);
  insert(map, "a", 1);
  insert(map, "b", 2);
  insert(map, "c", 3);
  map.find("a"); // now b is the least recently used
  insert(map, "d", 4);
  EXPECT_EQ(keys_of(map), (std::vector<std::string>{"c", "a", "d"}));
}

TEST(LruMapTest, PeekDoesNotChangeTheEvictionOrder) {
  LruMap<Item> map(2);
  insert(map, "a", 1);
  insert(map, "b", 2);
  ASSERT_NE(map.peek("a"), nullptr);
  insert(map, "c", 3);
  EXPECT_EQ(map.find("a"), nullptr);
}

TEST(LruMapTest, EvictsExpiredEntriesBeforeRecentlyUsedOnes) {
  LruMap<Item> map(4);
  insert(map, "old", 1);
  insert(map, "stale", 2).expired = true;
  insert(map, "fresh", 3);
  insert(map, "other", 4);
  map.find("old"); // the least recently used is now "stale", then "fresh"
  map.find("stale");
  insert(map, "new", 5); // "stale" is the most recently used but expired: it goes first
  EXPECT_EQ(map.find("stale"), nullptr);
  EXPECT_NE(map.find("fresh"), nullptr);
  EXPECT_NE(map.find("old"), nullptr);
}

TEST(LruMapTest, OneSweepRemovesEveryExpiredEntry) {
  LruMap<Item> map(8);
  for (int i = 0; i < 8; ++i)
    insert(map, "k" + std::to_string(i), i).expired = i % 2 == 0;
  insert(map, "new", 8);
  EXPECT_EQ(map.size(), 5u); // four expired went, the new one came
}

TEST(LruMapTest, NeverEvictsAPinnedEntry) {
  LruMap<Item> map(2);
  insert(map, "pinned", 1).pinned = true;
  insert(map, "b", 2);
  for (int i = 0; i < 50; ++i)
    insert(map, "k" + std::to_string(i), i);
  EXPECT_NE(map.find("pinned"), nullptr);
  EXPECT_EQ(map.size(), 2u);
}

TEST(LruMapTest, GrowsPastItsBoundOnlyWhileEverythingIsPinned) {
  LruMap<Item> map(2);
  insert(map, "a", 1).pinned = true;
  insert(map, "b", 2).pinned = true;
  insert(map, "c", 3);
  EXPECT_EQ(map.size(), 3u);
  map.find("a")->pinned = false;
  map.find("b")->pinned = false;
  insert(map, "d", 4);
  EXPECT_EQ(map.size(), 2u); // back to the bound once they are released
  EXPECT_NE(map.find("d"), nullptr);
}

TEST(LruMapTest, EraseIfRemovesMatchingEntriesAndKeepsTheRest) {
  LruMap<Item> map(10);
  for (int i = 0; i < 6; ++i)
    insert(map, "k" + std::to_string(i), i);
  EXPECT_EQ(map.erase_if([](const Item &item) { return item.value % 3 == 0; }), 2u);
  EXPECT_EQ(keys_of(map), (std::vector<std::string>{"k1", "k2", "k4", "k5"}));
  map.erase("k2");
  EXPECT_EQ(map.find("k2"), nullptr);
  EXPECT_EQ(map.size(), 3u);
}

} // namespace
} // namespace regcache::core
