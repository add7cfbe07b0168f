// Per-thread NVTX range stacks. Thread-local, so pushes and pops never take a lock: NVTX calls come
// from every thread of the program, many times per step.
#include "collectors/inject/range_path.h"

#include <cstring>
#include <type_traits>

namespace ttap::inject {
namespace {

// Deeper ranges are counted but not named, so a runaway push loop cannot grow memory or names.
constexpr size_t kMaxDepth = 64;
constexpr size_t kMaxPathNames = 8;
constexpr size_t kMaxNameLength = 64;

struct open_range {
  const void *domain;
  size_t length;
  char name[kMaxNameLength];
};

// Fixed arrays, no std::string or std::vector: the state has no destructor to run at thread exit.
// A range pushed from another thread_local's destructor or from an atexit handler (both run after
// or among the thread's TLS destructors) then finds valid storage, not a destroyed vector.
struct thread_ranges {
  open_range stack[kMaxDepth];
  size_t depth;
  size_t overflow;  // pushes past kMaxDepth, not stored
  size_t path_length;
  char path[kMaxPathNames * (kMaxNameLength + 1)];

  void rebuild() {
    path_length = 0;
    size_t names = 0;
    for (size_t i = 0; i < depth; ++i) {
      const open_range &r = stack[i];
      if (r.domain || names == kMaxPathNames) continue;
      if (path_length > 0) path[path_length++] = '/';
      std::memcpy(path + path_length, r.name, r.length);
      path_length += r.length;
      ++names;
    }
  }
};
static_assert(std::is_trivially_destructible_v<thread_ranges>);

thread_local thread_ranges t_ranges;  // zero-initialized: empty stack, empty path

}  // namespace

void range_pushed(const void *domain, const char *name) {
  thread_ranges &t = t_ranges;
  if (t.depth == kMaxDepth) {
    ++t.overflow;
    return;
  }
  if (!name || !*name) name = "unnamed";
  open_range &r = t.stack[t.depth++];
  r.domain = domain;
  r.length = strnlen(name, kMaxNameLength);
  std::memcpy(r.name, name, r.length);
  if (!domain) t.rebuild();
}

void range_popped(const void *domain) {
  thread_ranges &t = t_ranges;
  if (t.overflow > 0) {
    --t.overflow;
    return;
  }
  for (size_t i = t.depth; i-- > 0;) {
    if (t.stack[i].domain != domain) continue;
    std::memmove(&t.stack[i], &t.stack[i + 1], (t.depth - i - 1) * sizeof(open_range));
    --t.depth;
    if (!domain) t.rebuild();
    return;
  }
}

std::string_view range_path() { return {t_ranges.path, t_ranges.path_length}; }

}  // namespace ttap::inject
