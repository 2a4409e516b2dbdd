#pragma once
// Task<T>: a lazily started coroutine awaited by its parent (symmetric transfer, so deep chains
// do not grow the stack). spawn() runs a Task<void> detached: its frame frees itself at the end.
// Frames come from the per-thread frame pool. Exceptions never cross a coroutine boundary: the
// project does not throw, and an escaped exception is a bug that terminates.
#include <coroutine>
#include <exception>
#include <optional>
#include <utility>

#include "core/frame_pool.h"

namespace regcache::core {

struct PooledFrame {
  static void *operator new(std::size_t bytes) { return frame_allocate(bytes); }
  static void operator delete(void *frame, std::size_t bytes) noexcept { frame_free(frame, bytes); }
};

template <typename Promise> struct ContinueWith {
  bool await_ready() const noexcept { return false; }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> self) const noexcept {
    auto continuation = self.promise().continuation;
    return continuation ? continuation : std::noop_coroutine();
  }
  void await_resume() const noexcept {}
};

template <typename T = void> class [[nodiscard]] Task;

namespace detail {
template <typename T> struct TaskPromiseBase : PooledFrame {
  std::coroutine_handle<> continuation;
  std::suspend_always initial_suspend() const noexcept { return {}; }
  void unhandled_exception() const noexcept { std::terminate(); }
};
} // namespace detail

template <typename T> class [[nodiscard]] Task {
public:
  struct promise_type : detail::TaskPromiseBase<T> {
    std::optional<T> value;
    Task get_return_object() noexcept {
      return Task(std::coroutine_handle<promise_type>::from_promise(*this));
    }
    ContinueWith<promise_type> final_suspend() const noexcept { return {}; }
    template <typename U> void return_value(U &&v) noexcept { value.emplace(std::forward<U>(v)); }
  };

  Task(Task &&other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  Task &operator=(Task &&) = delete;
  ~Task() {
    if (handle_)
      handle_.destroy();
  }

  bool await_ready() const noexcept { return false; }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> parent) noexcept {
    handle_.promise().continuation = parent;
    return handle_;
  }
  T await_resume() noexcept { return std::move(*handle_.promise().value); }

private:
  explicit Task(std::coroutine_handle<promise_type> h) : handle_(h) {}
  std::coroutine_handle<promise_type> handle_;
};

template <> class [[nodiscard]] Task<void> {
public:
  struct promise_type : detail::TaskPromiseBase<void> {
    Task get_return_object() noexcept {
      return Task(std::coroutine_handle<promise_type>::from_promise(*this));
    }
    ContinueWith<promise_type> final_suspend() const noexcept { return {}; }
    void return_void() const noexcept {}
  };

  Task(Task &&other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  Task &operator=(Task &&) = delete;
  ~Task() {
    if (handle_)
      handle_.destroy();
  }

  bool await_ready() const noexcept { return false; }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> parent) noexcept {
    handle_.promise().continuation = parent;
    return handle_;
  }
  void await_resume() const noexcept {}

private:
  explicit Task(std::coroutine_handle<promise_type> h) : handle_(h) {}
  std::coroutine_handle<promise_type> handle_;
};

// A fire-and-forget coroutine: starts at once, frees its own frame when it ends.
struct Detached {
  struct promise_type : PooledFrame {
    Detached get_return_object() const noexcept { return {}; }
    std::suspend_never initial_suspend() const noexcept { return {}; }
    std::suspend_never final_suspend() const noexcept { return {}; }
    void return_void() const noexcept {}
    void unhandled_exception() const noexcept { std::terminate(); }
  };
};

namespace detail {
inline Detached run_detached(Task<void> task) {
  co_await std::move(task);
}
} // namespace detail

// Runs `task` to completion without anyone awaiting it.
inline void spawn(Task<void> task) {
  detail::run_detached(std::move(task));
}

} // namespace regcache::core
