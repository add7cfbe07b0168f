// The thread-local last-error message behind ttap_last_error(), and the failure site TTAP_CHECK
// adds to it. The message is a fixed character buffer, not a std::string: a trivially
// destructible thread_local is never torn down before the thread ends, so an error recorded from
// an atexit handler (the hooks close their session there, after glibc has run the main thread's
// thread_local destructors) writes into live memory.
#include "runtime/errors.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace ttap {
namespace {
// Long enough for any message the runtime builds (paths included); longer ones are cut.
constexpr size_t kLastErrorCapacity = 4096;
thread_local char t_last_error[kLastErrorCapacity];
thread_local bool t_site_noted = false;  // the current message already names its site
}  // namespace

ttap_status fail(ttap_status st, std::string message) {
  const size_t n = std::min(message.size(), kLastErrorCapacity - 1);
  std::memcpy(t_last_error, message.data(), n);
  t_last_error[n] = '\0';
  t_site_noted = false;
  return st;
}

const char *last_error_message() { return t_last_error; }

ttap_status note_failure_site(ttap_status st, const char *file, int line) {
  if (t_site_noted) return st;
  t_site_noted = true;
  // The path from the source root (runtime/session.cc), not the build machine's absolute one.
  const char *root = std::strstr(file, "runtime/");
  const size_t used = std::strlen(t_last_error);
  std::snprintf(t_last_error + used, kLastErrorCapacity - used, " (at %s:%d)", root ? root : file,
                line);
  return st;
}

}  // namespace ttap
