#pragma once
// A map from strings to values that holds a bounded number of entries, for the maps whose keys
// a client chooses (token scopes, upstream hosts, ?ns= names): whatever clients send, the map
// stays at `entries_max` entries. Making room for a new key evicts, in this order, the entries
// the owner calls expired (a sweep of the whole map, so run at most once per entries_max / 8
// insertions: amortized constant work per insertion), then the least recently used entry. An
// entry the owner calls pinned (a fetch in flight, waiters) is never evicted; the map is over
// its bound only while more than entries_max entries are pinned at once, which the owner's own
// bounds (requests in flight) limit. Not thread-safe: the owner locks.
#include <cassert>
#include <cstddef>
#include <iterator>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>

namespace regcache::core {

template <class Value> class LruMap {
public:
  explicit LruMap(size_t entries_max)
      : entries_max_(entries_max), sweep_every_inserts_(entries_max / 8 > 0 ? entries_max / 8 : 1),
        inserts_since_sweep_(sweep_every_inserts_) {
    assert(entries_max > 0);
  }
  LruMap(const LruMap &) = delete;
  LruMap &operator=(const LruMap &) = delete;

  size_t size() const { return index_.size(); }
  bool empty() const { return index_.empty(); }
  size_t entries_max() const { return entries_max_; }

  // The value under `key`, now the most recently used; null when absent.
  Value *find(std::string_view key) {
    auto it = index_.find(key);
    if (it == index_.end())
      return nullptr;
    order_.splice(order_.end(), order_, it->second);
    return &it->second->value;
  }

  // The value under `key`, leaving its place in the eviction order alone; null when absent.
  Value *peek(std::string_view key) {
    auto it = index_.find(key);
    return it == index_.end() ? nullptr : &it->second->value;
  }

  // The value under `key`, now the most recently used. An absent key gets a default-constructed
  // value, after making room as the header describes; `*inserted` tells which happened.
  // pinned(const Value &) and expired(const Value &) are the owner's policy.
  template <class Pinned, class Expired>
  Value &find_or_insert(std::string_view key, Pinned pinned, Expired expired,
                        bool *inserted = nullptr) {
    if (Value *found = find(key)) {
      if (inserted != nullptr)
        *inserted = false;
      return *found;
    }
    if (index_.size() >= entries_max_)
      make_room(pinned, expired);
    order_.emplace_back(); // in place: Value need not be movable
    auto node = std::prev(order_.end());
    node->key.assign(key);
    index_.emplace(std::string_view(node->key), node);
    inserts_since_sweep_++;
    if (inserted != nullptr)
      *inserted = true;
    return node->value;
  }

  // The least recently used entry (the next to be evicted) and its key; null when empty.
  Value *least_recently_used(std::string_view *key) {
    if (order_.empty())
      return nullptr;
    *key = order_.front().key;
    return &order_.front().value;
  }

  void erase(std::string_view key) {
    auto it = index_.find(key);
    if (it == index_.end())
      return;
    auto node = it->second;
    index_.erase(it); // the index's key views the node's string: erase it first
    order_.erase(node);
  }

  // Erases every entry for which remove(Value &) is true, least recently used first; returns how
  // many went. remove may change the values it keeps.
  template <class Remove> size_t erase_if(Remove remove) {
    size_t erased = 0;
    for (auto node = order_.begin(); node != order_.end();) {
      auto next = std::next(node);
      if (remove(node->value)) {
        index_.erase(std::string_view(node->key));
        order_.erase(node);
        erased++;
      }
      node = next;
    }
    return erased;
  }

  void clear() {
    index_.clear();
    order_.clear();
  }

  // Calls visit(std::string_view key, const Value &) from least to most recently used.
  template <class Visit> void for_each(Visit visit) const {
    for (const Node &node : order_)
      visit(std::string_view(node.key), node.value);
  }

private:
  struct Node {
    std::string key;
    Value value;
  };
  using Order = std::list<Node>;

  template <class Pinned, class Expired> void make_room(Pinned &pinned, Expired &expired) {
    if (inserts_since_sweep_ >= sweep_every_inserts_) {
      inserts_since_sweep_ = 0;
      erase_if([&](const Value &value) { return !pinned(value) && expired(value); });
      if (index_.size() < entries_max_)
        return;
    }
    // Down to one below the bound (more than one eviction only after pinned entries held the map
    // over it). One walk, bounded by the map's size; pinned entries were used recently, so they
    // sit at the far end and the walk usually stops at the first node.
    for (auto node = order_.begin(); node != order_.end() && index_.size() >= entries_max_;) {
      auto next = std::next(node);
      if (!pinned(node->value)) {
        index_.erase(std::string_view(node->key));
        order_.erase(node);
      }
      node = next;
    }
    // Still full: every entry is pinned, and the map grows past its bound until some are
    // released.
  }

  const size_t entries_max_;
  const size_t sweep_every_inserts_;
  size_t inserts_since_sweep_;
  Order order_; // least recently used first
  std::unordered_map<std::string_view, typename Order::iterator> index_;
};

} // namespace regcache::core
