// Logging: one line per message on stderr, prefixed "ttap: " ("ttap[rank R]: " on ranks other than
// 0, so the lines of a multi-rank job say where they come from), filtered by an atomic level check
// before any formatting (TTAP_DEBUG=WARN|INFO|TRACE, default WARN). warn_once() for failures that
// disable a part of tensortap: said once, then silence.
#pragma once

#include <atomic>

namespace ttap {

enum class log_level : int { warn = 0, info = 1, trace = 2 };

// The level from TTAP_DEBUG, read on first use.
log_level current_log_level();

bool log_enabled(log_level level);

// The rank named in the prefix. Until a session sets it, the launcher's (TTAP_RANK, RANK,
// OMPI_COMM_WORLD_RANK).
void set_log_rank(int rank);

// printf-style; adds the prefix and the newline.
void log_message(log_level level, const char *format, ...) __attribute__((format(printf, 2, 3)));

// Logs at warn level the first time `key` is seen in this process, never again.
void warn_once(const char *key, const char *format, ...) __attribute__((format(printf, 2, 3)));

}  // namespace ttap

#define TTAP_LOG(level, ...)                                                 \
  do {                                                                       \
    if (::ttap::log_enabled(level)) ::ttap::log_message(level, __VA_ARGS__); \
  } while (0)
#define TTAP_WARN(...) TTAP_LOG(::ttap::log_level::warn, __VA_ARGS__)
#define TTAP_INFO(...) TTAP_LOG(::ttap::log_level::info, __VA_ARGS__)
#define TTAP_TRACE(...) TTAP_LOG(::ttap::log_level::trace, __VA_ARGS__)
