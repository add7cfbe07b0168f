// The runtime's one error convention: a ttap_status plus a thread-local detailed message (what
// ttap_last_error() returns). fail() records the message; TTAP_CHECK propagates a failed status
// and records where it was first seen, like NCCLCHECK, so a message names the failing call.
#pragma once

#include <string>

#include "ttap/ttap.h"

namespace ttap {

// Records `message` as this thread's last error and returns `st`.
ttap_status fail(ttap_status st, std::string message);

// The thread's last error message ("" if none).
const char *last_error_message();

// Appends " (at FILE:LINE)" to the thread's last error, once: the innermost check that saw the
// failure names the place (outer checks pass it on unchanged). Returns `st`.
ttap_status note_failure_site(ttap_status st, const char *file, int line);

}  // namespace ttap

// Evaluates a ttap_status expression; unless TTAP_OK, notes the file and line in the message and
// returns the status from the enclosing function.
#define TTAP_CHECK(expr)                                                        \
  do {                                                                          \
    ttap_status ttap_check_status_ = (expr);                                    \
    if (ttap_check_status_ != TTAP_OK)                                          \
      return ::ttap::note_failure_site(ttap_check_status_, __FILE__, __LINE__); \
  } while (0)
