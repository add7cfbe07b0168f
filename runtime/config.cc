// The knob table, the cached environment and the options-string parser.
#include "runtime/config.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <sstream>
#include <vector>

#include "runtime/sinks/redacted_url.h"

namespace ttap {
namespace {

constexpr knob kKnobs[] = {
    {"TTAP_RUN_DIR", nullptr, "ttap-run",
     "run directory when ttap_open gets NULL (ttap run sets it)"},
    {"TTAP_EVERY", "every", "1", "sample every N steps"},
    {"TTAP_INTERVAL_MS", "interval_ms", "0", "minimum milliseconds between two samples"},
    {"TTAP_BUDGET", "budget", "0.01",
     "tensortap's time on the training thread as a fraction of step time; sampling slows to stay "
     "under it (0: off)"},
    {"TTAP_BACKEND", "backend", "auto", "auto|cpu|emulated|cuda: who summarizes the tensors"},
    {"TTAP_FLUSH_MS", "flush_ms", "1000",
     "commit the store at least this often (non-finite alerts at once)"},
    {"TTAP_ON_NONFINITE", "on_nonfinite", "warn",
     "warn|abort: abort exits with status 3 once the alert is stored"},
    {"TTAP_RANK", "rank", "0", "this process's rank (else RANK, OMPI_COMM_WORLD_RANK)"},
    {"TTAP_WORLD", "world", "1", "ranks in the group (else WORLD_SIZE, OMPI_COMM_WORLD_SIZE)"},
    {"TTAP_MODE", "mode", "new",
     "new|append: new refuses a run directory that holds an earlier run; append adds to it"},
    {"TTAP_REPLICATED", "replicated", "",
     "in a group (ttap_set_group): tensors that must be identical on every rank, as globs "
     "joined by '|' (default: kind param)"},
    {"TTAP_SHARDED", "sharded", "",
     "in a group: tensors each rank holds a different part of (tensor parallel, FSDP), as globs "
     "joined by '|'; never compared across ranks (default: none; wins over replicated)"},
    {"TTAP_ALERT_WEBHOOK", "alert_webhook", "",
     "POST every alert as JSON (Slack/Mattermost-ready `text`) to this http(s) URL, from a "
     "separate thread, rate-limited per alert type"},
    {"TTAP_ALERT_WEBHOOK_TIMEOUT_MS", "alert_webhook_timeout_ms", "5000",
     "alert webhook: limit of one POST attempt, and of the wait at close for undelivered alerts"},
    {"TTAP_STEP_RANGE", nullptr, "",
     "hooks: an NVTX range name; each time it opens, a training step begins (default: steps "
     "inferred from the repeating pattern of collectives)"},
    {"TTAP_HOOKS_RECV", nullptr, "0",
     "hooks: 1 also summarizes each reduction's result after the collective (<name>.out)"},
    {"TTAP_FLIGHT_ENTRIES", nullptr, "1024",
     "hooks: flight recorder entries kept per communicator (16..1048576)"},
    {"TTAP_HOOKS_MIN_ELEMENTS", nullptr, "4096",
     "hooks: reductions of fewer elements are not summarized (no cost on small messages)"},
    {"TTAP_HOOKS_GRAD", nullptr, "",
     "hooks: stored names of reductions that are gradients (globs joined by '|', e.g. "
     "'mpi.allreduce.*'); others are kind collective, without the gradient detectors"},
    {"TTAP_DEBUG", nullptr, "WARN", "log level: WARN|INFO|TRACE"},
    {"NO_COLOR", nullptr, "", "any non-empty value turns off colored output"},
};

// Plain variables read as fallbacks (launchers set them), listed by `ttap env` too.
constexpr const char *kFallbackVars[] = {"RANK", "WORLD_SIZE", "OMPI_COMM_WORLD_RANK",
                                         "OMPI_COMM_WORLD_SIZE", "TERM"};

std::mutex g_env_mutex;
std::map<std::string, std::optional<std::string>> g_env_cache;

bool parse_int(const std::string &s, int64_t lo, int64_t hi, int64_t *out) {
  if (s.empty()) return false;
  errno = 0;
  char *end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno || *end != '\0' || v < lo || v > hi) return false;
  *out = v;
  return true;
}

bool parse_double(const std::string &s, double lo, double hi, double *out) {
  if (s.empty()) return false;
  errno = 0;
  char *end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (errno || *end != '\0' || !std::isfinite(v) || v < lo || v > hi) return false;
  *out = v;
  return true;
}

// Applies one key=value to the config; `source` names where it came from for messages.
bool apply(session_config &c, const std::string &key, const std::string &value,
           const std::string &source, std::string *error) {
  auto bad = [&](const char *expected) {
    *error = source + ": " + key + "=" + value + " is not valid (expected " + expected + ")";
    return false;
  };
  int64_t i = 0;
  if (key == "every") {
    if (!parse_int(value, 1, int64_t(1) << 40, &i)) return bad("an integer >= 1");
    c.every = i;
  } else if (key == "interval_ms") {
    if (!parse_double(value, 0, 1e12, &c.interval_ms)) return bad("milliseconds >= 0");
  } else if (key == "budget") {
    if (!parse_double(value, 0, 1, &c.budget)) return bad("a fraction between 0 and 1");
  } else if (key == "backend") {
    if (value == "auto")
      c.backend = backend_choice::automatic;
    else if (value == "cpu")
      c.backend = backend_choice::cpu;
    else if (value == "emulated")
      c.backend = backend_choice::emulated;
    else if (value == "cuda")
      c.backend = backend_choice::cuda;
    else
      return bad("auto, cpu, emulated or cuda");
  } else if (key == "flush_ms") {
    if (!parse_double(value, 1, 1e9, &c.flush_ms)) return bad("milliseconds >= 1");
  } else if (key == "on_nonfinite") {
    if (value == "warn")
      c.on_nonfinite = nonfinite_action::warn;
    else if (value == "abort")
      c.on_nonfinite = nonfinite_action::abort;
    else
      return bad("warn or abort");
  } else if (key == "rank") {
    if (!parse_int(value, 0, 1 << 24, &i)) return bad("an integer >= 0");
    c.rank = int32_t(i);
  } else if (key == "world") {
    if (!parse_int(value, 1, 1 << 24, &i)) return bad("an integer >= 1");
    c.world = int32_t(i);
  } else if (key == "mode") {
    if (value == "new")
      c.append = false;
    else if (value == "append")
      c.append = true;
    else
      return bad("new or append");
  } else if (key == "replicated" || key == "sharded") {
    // fnmatch patterns cannot be malformed, but an empty one between two '|' is a slip.
    if (value.empty() || value.front() == '|' || value.back() == '|' ||
        value.find("||") != std::string::npos)
      return bad("globs joined by '|', none empty");
    (key == "replicated" ? c.replicated : c.sharded) = value;
  } else if (key == "alert_webhook") {
    if (value.rfind("http://", 0) != 0 && value.rfind("https://", 0) != 0)
      return bad("an http:// or https:// URL");
    c.alert_webhook = value;
  } else if (key == "alert_webhook_timeout_ms") {
    if (!parse_double(value, 1, 3.6e6, &c.alert_webhook_timeout_ms))
      return bad("milliseconds between 1 and 3600000");
  } else {
    std::string known;
    for (const knob &k : kKnobs) {
      if (k.option) known += (known.empty() ? "" : ", ") + std::string(k.option);
    }
    *error = source + ": unknown option '" + key + "' (known: " + known + ")";
    return false;
  }
  return true;
}

}  // namespace

std::span<const knob> knobs() { return kKnobs; }

std::optional<std::string> env_value(const char *name) {
  std::lock_guard<std::mutex> lock(g_env_mutex);
  auto it = g_env_cache.find(name);
  if (it != g_env_cache.end()) return it->second;
  const char *v = std::getenv(name);
  std::optional<std::string> value;
  if (v && *v) value = std::string(v);
  g_env_cache.emplace(name, value);
  return value;
}

const char *backend_name(backend_choice b) {
  switch (b) {
    case backend_choice::automatic:
      return "auto";
    case backend_choice::cpu:
      return "cpu";
    case backend_choice::emulated:
      return "emulated";
    case backend_choice::cuda:
      return "cuda";
  }
  return "auto";
}

std::string session_config::to_string() const {
  std::ostringstream s;
  s << "every=" << every << ",interval_ms=" << interval_ms << ",budget=" << budget
    << ",backend=" << backend_name(backend) << ",flush_ms=" << flush_ms
    << ",on_nonfinite=" << (on_nonfinite == nonfinite_action::abort ? "abort" : "warn")
    << ",rank=" << rank << ",world=" << world;
  if (!replicated.empty()) s << ",replicated=" << replicated;
  if (!sharded.empty()) s << ",sharded=" << sharded;
  if (append) s << ",mode=append";
  // The URL's path is often its secret (Slack's tokens): the store keeps the host only.
  if (!alert_webhook.empty())
    s << ",alert_webhook=" << redacted_url(alert_webhook)
      << ",alert_webhook_timeout_ms=" << alert_webhook_timeout_ms;
  return s.str();
}

bool make_session_config(const char *run_dir, const char *options, session_config *out,
                         std::string *error) {
  session_config c;
  // Rank and world from the launcher's variables, then tensortap's own.
  for (const char *name : {"OMPI_COMM_WORLD_RANK", "RANK"}) {
    if (auto v = env_value(name); v && !apply(c, "rank", *v, name, error)) return false;
  }
  for (const char *name : {"OMPI_COMM_WORLD_SIZE", "WORLD_SIZE"}) {
    if (auto v = env_value(name); v && !apply(c, "world", *v, name, error)) return false;
  }
  for (const knob &k : kKnobs) {
    if (!k.option) continue;
    if (auto v = env_value(k.env); v && !apply(c, k.option, *v, k.env, error)) return false;
  }
  if (auto v = env_value("TTAP_RUN_DIR")) {
    c.run_dir = *v;
    c.run_dir_given = true;
  }
  if (run_dir) {
    c.run_dir_given = true;
    if (!*run_dir) {
      *error = "run_dir is empty (pass NULL for the default)";
      return false;
    }
    c.run_dir = run_dir;
  }
  if (options) {
    std::string all(options), item;
    std::stringstream ss(all);
    while (std::getline(ss, item, ',')) {
      if (item.empty()) continue;
      auto eq = item.find('=');
      if (eq == std::string::npos || eq == 0) {
        *error = "options: '" + item + "' is not key=value";
        return false;
      }
      if (!apply(c, item.substr(0, eq), item.substr(eq + 1), "options", error)) return false;
    }
  }
  if (c.rank >= c.world) {
    *error = "rank " + std::to_string(c.rank) + " is not below world " + std::to_string(c.world);
    return false;
  }
  *out = c;
  return true;
}

bool color_allowed_by_environment() {
  if (env_value("NO_COLOR")) return false;
  auto term = env_value("TERM");
  return !(term && *term == "dumb");
}

std::string run_name(const std::string &run_dir) {
  std::error_code ec;
  std::filesystem::path p = std::filesystem::absolute(run_dir, ec);
  if (ec) p = run_dir;
  p = p.lexically_normal();
  if (p.filename().empty()) p = p.parent_path();  // "runs/a/" -> "runs/a"
  std::string name = p.filename().string();
  return name.empty() ? run_dir : name;
}

std::span<const char *const> fallback_variables() { return kFallbackVars; }

}  // namespace ttap
