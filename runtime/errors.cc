// The thread-local last-error message behind ttap_last_error(). It is a fixed character buffer,
// not a std::string: a trivially destructible thread_local is never torn down before the thread
// ends, so an error recorded from an atexit handler (the hooks close their session there, after
// glibc has run the main thread's thread_local destructors) writes into live memory.
#include "runtime/errors.h"

#include <algorithm>
#include <cstring>

namespace ttap {
namespace {
// Long enough for any message the runtime builds (paths included); longer ones are cut.
constexpr size_t kLastErrorCapacity = 4096;
thread_local char t_last_error[kLastErrorCapacity];
}  // namespace

ttap_status fail(ttap_status st, std::string message) {
  const size_t n = std::min(message.size(), kLastErrorCapacity - 1);
  std::memcpy(t_last_error, message.data(), n);
  t_last_error[n] = '\0';
  return st;
}

const char *last_error_message() { return t_last_error; }

}  // namespace ttap
