// Log level, message formatting and the warn-once set.
#include "runtime/log.h"

#include <cctype>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <set>
#include <string>

#include "runtime/config.h"

namespace ttap {
namespace {

// -1 until first read; then the level. Relaxed is enough: every thread reads the same value.
std::atomic<int> g_level{-1};
// -1 until known; then the rank for the prefix.
std::atomic<int> g_rank{-1};

int log_rank() {
  int rank = g_rank.load(std::memory_order_relaxed);
  if (rank < 0) {
    rank = 0;
    // The same order of precedence as the session's configuration (config.cc): TTAP_RANK wins.
    for (const char *name : {"OMPI_COMM_WORLD_RANK", "RANK", "TTAP_RANK"}) {
      if (auto v = env_value(name)) rank = std::atoi(v->c_str());
    }
    g_rank.store(rank, std::memory_order_relaxed);
  }
  return rank;
}

void vlog(const char *format, va_list args) {
  char line[1024];
  std::vsnprintf(line, sizeof line, format, args);
  if (int rank = log_rank(); rank > 0)
    std::fprintf(stderr, "ttap[rank %d]: %s\n", rank, line);
  else
    std::fprintf(stderr, "ttap: %s\n", line);
}

}  // namespace

log_level current_log_level() {
  int level = g_level.load(std::memory_order_relaxed);
  if (level < 0) {
    level = int(log_level::warn);
    // Parsed here rather than by process_knob(): a bad value must not log before the level is set.
    const knob *k = find_knob("debug");
    knob_value v;
    std::string ignored;
    if (auto text = env_value(k->env)) {
      std::string upper = *text;
      for (char &ch : upper) ch = char(std::toupper(static_cast<unsigned char>(ch)));
      if (parse_knob(*k, upper, &v, &ignored)) level = int(v.integer);  // WARN|INFO|TRACE in order
    }
    g_level.store(level, std::memory_order_relaxed);
  }
  return log_level(level);
}

void set_log_rank(int rank) { g_rank.store(rank, std::memory_order_relaxed); }

bool log_enabled(log_level level) { return int(level) <= int(current_log_level()); }

void log_message(log_level, const char *format, ...) {
  va_list args;
  va_start(args, format);
  vlog(format, args);
  va_end(args);
}

void warn_once(const char *key, const char *format, ...) {
  // Never destroyed: warnings are also given from atexit handlers (the hooks closing their
  // session), which may run after this function's statics would have been torn down.
  static auto *mutex = new std::mutex;
  static auto *seen = new std::set<std::string>;
  {
    std::lock_guard<std::mutex> lock(*mutex);
    if (!seen->insert(key).second) return;
  }
  va_list args;
  va_start(args, format);
  vlog(format, args);
  va_end(args);
}

}  // namespace ttap
