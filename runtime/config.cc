// The knob registry (each knob declared once, below), the cached environment, and the resolution
// of a session's configuration: defaults, then the environment, then ttap_open's options string.
#include "runtime/config.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <sstream>

#include "runtime/log.h"
#include "runtime/sinks/redacted_url.h"

namespace ttap {
namespace {

constexpr double kMaxEvery = double(int64_t(1) << 40);
constexpr double kMaxRanks = double(1 << 24);

const char *check_globs(const std::string &v) {
  // fnmatch patterns cannot be malformed, but an empty one between two '|' is a slip.
  if (v.empty() || v.front() == '|' || v.back() == '|' || v.find("||") != std::string::npos)
    return "globs joined by '|', none empty";
  return nullptr;
}

const char *check_path(const std::string &v) { return v.empty() ? "a file path" : nullptr; }

const char *check_responses(const std::string &v) {
  const std::string words = "+" + v + "+";
  const bool skip = words.find("+skip+") != std::string::npos;
  const bool abort = words.find("+abort+") != std::string::npos;
  return skip && abort ? "skip and abort exclude each other" : nullptr;
}

const char *check_url(const std::string &v) {
  const bool http = v.rfind("http://", 0) == 0 || v.rfind("https://", 0) == 0;
  return http && v.find_first_of(" \t\r\n") == std::string::npos
             ? nullptr
             : "an http:// or https:// URL without white space";
}

// Shorthands for the table: a session knob's setter is a captureless lambda on the config.
using K = knob_type;
using S = knob_scope;
#define TTAP_SET(body) [](session_config &c, const knob_value &v) { body; }

const knob kKnobs[] = {
    {"run_dir", "TTAP_RUN_DIR", K::text, S::process, "ttap-run", 0, 0, nullptr,
     "run directory when ttap_open gets NULL (ttap run sets it)", nullptr, check_path},
    {"every", "TTAP_EVERY", K::integer, S::session, "1", 1, kMaxEvery, nullptr,
     "sample every N steps", TTAP_SET(c.every = v.integer), nullptr},
    {"interval_ms", "TTAP_INTERVAL_MS", K::real, S::session, "0", 0, 1e12, nullptr,
     "minimum milliseconds between two samples", TTAP_SET(c.interval_ms = v.real), nullptr},
    {"budget", "TTAP_BUDGET", K::real, S::session, "0.01", 0, 1, nullptr,
     "tensortap's time on the training thread as a fraction of step time; sampling slows to stay "
     "under it (0: off)",
     TTAP_SET(c.budget = v.real), nullptr},
    {"backend", "TTAP_BACKEND", K::choice, S::session, "auto", 0, 0, "auto|cpu|emulated|cuda",
     "who summarizes the tensors (auto: cuda for device pointers when a GPU answers, cpu for host "
     "pointers)",
     TTAP_SET(c.backend = backend_choice(v.integer)), nullptr},
    {"emulated_gbps", "TTAP_EMULATED_GBPS", K::real, S::session, "2000", 1e-6, 1e6, nullptr,
     "backend=emulated: the read bandwidth (GB/s) its modeled device time assumes, counted in the "
     "budget like a GPU's measured device time",
     TTAP_SET(c.emulated_gbps = v.real), nullptr},
    {"flush_ms", "TTAP_FLUSH_MS", K::real, S::session, "1000", 1, 1e9, nullptr,
     "commit the store at least this often (non-finite alerts at once)",
     TTAP_SET(c.flush_ms = v.real), nullptr},
    // Responses to an anomaly (runtime/response/, runtime/sinks/response_sink.cc): the bits of
    // the choices follow response_policy_of_bits's order (warn, skip, dump, abort).
    {"on_nonfinite", "TTAP_ON_NONFINITE", K::choice_set, S::session, "warn", 0, 0,
     "warn|skip|dump|abort",
     "the response to a NaN/Inf: skip and dump act at ttap_verdict (every step is then sampled, "
     "whatever every, interval_ms and budget say); abort exits with status 3 once the alert is "
     "stored",
     TTAP_SET(c.on_nonfinite = response_policy_of_bits(v.integer)), check_responses},
    {"on_spike", "TTAP_ON_SPIKE", K::choice_set, S::session, "warn", 0, 0, "warn|skip|dump",
     "the response to a gradient spike, at ttap_verdict (as on_nonfinite)",
     TTAP_SET(c.on_spike = response_policy_of_bits(v.integer)), nullptr},
    {"dump_max_mb", "TTAP_DUMP_MAX_MB", K::real, S::session, "256", 0, 1 << 20, nullptr,
     "forensic dumps: megabytes of tensors one dump may hold (the rest is listed as left out)",
     TTAP_SET(c.dump_max_mb = v.real), nullptr},
    {"dump_max", "TTAP_DUMP_MAX", K::integer, S::session, "3", 0, 1000000, nullptr,
     "forensic dumps: at most this many per session", TTAP_SET(c.dump_max = v.integer), nullptr},
    {"rank", "TTAP_RANK", K::integer, S::session, "0", 0, kMaxRanks, nullptr,
     "this process's rank (else RANK, OMPI_COMM_WORLD_RANK)", TTAP_SET(c.rank = int32_t(v.integer)),
     nullptr},
    {"world", "TTAP_WORLD", K::integer, S::session, "1", 1, kMaxRanks, nullptr,
     "ranks in the group (else WORLD_SIZE, OMPI_COMM_WORLD_SIZE)",
     TTAP_SET(c.world = int32_t(v.integer)), nullptr},
    {"mode", "TTAP_MODE", K::choice, S::session, "new", 0, 0, "new|append",
     "new refuses a run directory that holds an earlier run; append adds to it",
     TTAP_SET(c.append = v.integer == 1), nullptr},
    {"store", "TTAP_STORE", K::choice, S::session, "on", 0, 0, "on|off",
     "off: keep no ttap.db, for sessions that only need their alerts (stderr, jsonl, webhook, "
     "ttap_next_alert) and must open fast; nothing for ttap report, dumps still go to the run "
     "directory",
     TTAP_SET(c.store = v.integer == 0), nullptr},
    {"replicated", "TTAP_REPLICATED", K::text, S::session, "", 0, 0, nullptr,
     "in a group (ttap_set_group): tensors that must be identical on every rank, as globs "
     "joined by '|' (default: kind param)",
     TTAP_SET(c.replicated = v.text), check_globs},
    {"sharded", "TTAP_SHARDED", K::text, S::session, "", 0, 0, nullptr,
     "in a group: tensors each rank holds a different part of (tensor parallel, FSDP), as globs "
     "joined by '|'; never compared across ranks (default: none; wins over replicated)",
     TTAP_SET(c.sharded = v.text), check_globs},
    {"alert_webhook", "TTAP_ALERT_WEBHOOK", K::text, S::session, "", 0, 0, nullptr,
     "POST every alert as JSON (Slack/Mattermost-ready `text`) to this http(s) URL, from a "
     "separate thread, rate-limited per alert type (the store keeps the host only)",
     TTAP_SET(c.alert_webhook = v.text), check_url},
    {"alert_webhook_timeout_ms", "TTAP_ALERT_WEBHOOK_TIMEOUT_MS", K::real, S::session, "5000", 1,
     3.6e6, nullptr,
     "alert webhook: limit of one POST attempt, and of the wait at close for undelivered alerts",
     TTAP_SET(c.alert_webhook_timeout_ms = v.real), nullptr},
    {"jsonl", "TTAP_JSONL", K::text, S::session, "", 0, 0, nullptr,
     "also write every record and alert as one JSON line to this file (for tail -f and log "
     "shippers)",
     TTAP_SET(c.jsonl = v.text), check_path},
    // The detectors' thresholds (see the README's alert table).
    {"spike_threshold", "TTAP_SPIKE_THRESHOLD", K::real, S::session, "8", 1, 1e6, nullptr,
     "spike alert: robust z-score of a gradient's l2 against its recent median above this",
     TTAP_SET(c.detectors.spike_threshold = v.real), nullptr},
    {"spike_window", "TTAP_SPIKE_WINDOW", K::integer, S::session, "50", 3, 100000, nullptr,
     "spike and loss_spike alerts: samples in the median/MAD window",
     TTAP_SET(c.detectors.spike_window = int(v.integer)), nullptr},
    {"spike_min_samples", "TTAP_SPIKE_MIN_SAMPLES", K::integer, S::session, "10", 2, 100000,
     nullptr, "spike and loss_spike alerts: no verdict before this many samples of a series",
     TTAP_SET(c.detectors.spike_min_samples = int(v.integer)), nullptr},
    {"loss_spike_threshold", "TTAP_LOSS_SPIKE_THRESHOLD", K::real, S::session, "8", 1, 1e6, nullptr,
     "loss_spike alert: robust z-score of the scalar \"loss\" above this",
     TTAP_SET(c.detectors.loss_spike_threshold = v.real), nullptr},
    {"vanishing_floor", "TTAP_VANISHING_FLOOR", K::real, S::session, "1e-12", 0, 1, nullptr,
     "vanishing alert: a gradient's l2 below this (or all zeros) counts as vanished",
     TTAP_SET(c.detectors.vanishing_floor = v.real), nullptr},
    {"vanishing_samples", "TTAP_VANISHING_SAMPLES", K::integer, S::session, "5", 1, 1000000,
     nullptr, "vanishing alert: after this many vanished samples in a row",
     TTAP_SET(c.detectors.vanishing_samples = int(v.integer)), nullptr},
    {"fp8_underflow", "TTAP_FP8_UNDERFLOW", K::real, S::session, "0.5", 0, 1, nullptr,
     "fp8_range alert: fraction of finite nonzero values e4m3 loses to underflow after amax "
     "scaling above this",
     TTAP_SET(c.detectors.fp8_underflow_threshold = v.real), nullptr},
    {"fp8_overflow", "TTAP_FP8_OVERFLOW", K::real, S::session, "0.001", 0, 1, nullptr,
     "fp8_range alert: fraction of values above e4m3's range when cast unscaled above this",
     TTAP_SET(c.detectors.fp8_overflow_threshold = v.real), nullptr},
    {"group_min_ranks", "TTAP_GROUP_MIN_RANKS", K::integer, S::session, "3", 3, kMaxRanks, nullptr,
     "outlier_rank and straggler alerts: only in groups of at least this many ranks",
     TTAP_SET(c.detectors.group_min_ranks = int(v.integer)), nullptr},
    {"outlier_threshold", "TTAP_OUTLIER_THRESHOLD", K::real, S::session, "8", 1, 1e6, nullptr,
     "outlier_rank alert: robust z-score of a rank's log gradient norm against the others' above "
     "this",
     TTAP_SET(c.detectors.outlier_threshold = v.real), nullptr},
    {"outlier_min_scale", "TTAP_OUTLIER_MIN_SCALE", K::real, S::session, "0.1", 0.001, 10, nullptr,
     "outlier_rank alert: floor of the score's scale, in log units (0.1: 2.2x off at 8)",
     TTAP_SET(c.detectors.outlier_min_scale = v.real), nullptr},
    {"straggler_threshold", "TTAP_STRAGGLER_THRESHOLD", K::real, S::session, "8", 1, 1e6, nullptr,
     "straggler alert: robust z-score of a rank's log step time against the others' above this",
     TTAP_SET(c.detectors.straggler_threshold = v.real), nullptr},
    {"straggler_min_scale", "TTAP_STRAGGLER_MIN_SCALE", K::real, S::session, "0.1", 0.001, 10,
     nullptr, "straggler alert: floor of the score's scale, in log units",
     TTAP_SET(c.detectors.straggler_min_scale = v.real), nullptr},
    {"straggler_min_excess_seconds", "TTAP_STRAGGLER_MIN_EXCESS_SECONDS", K::real, S::session,
     "0.05", 0, 3600, nullptr,
     "straggler alert: a straggler is also this many seconds per step over the group median "
     "(scheduler noise on millisecond steps is not one)",
     TTAP_SET(c.detectors.straggler_min_excess_seconds = v.real), nullptr},
    // Process knobs: the hooks and logging.
    {"step_range", "TTAP_STEP_RANGE", K::text, S::process, "", 0, 0, nullptr,
     "hooks: an NVTX range name; each time it opens, a training step begins (default: steps "
     "inferred from the repeating pattern of collectives)",
     nullptr, nullptr},
    {"hooks_recv", "TTAP_HOOKS_RECV", K::integer, S::process, "0", 0, 1, nullptr,
     "hooks: 1 also summarizes each reduction's result after the collective (<name>.out)", nullptr,
     nullptr},
    {"flight_entries", "TTAP_FLIGHT_ENTRIES", K::integer, S::process, "1024", 16, 1 << 20,
     nullptr, "hooks: flight recorder entries kept per communicator", nullptr, nullptr},
    {"hooks_min_elements", "TTAP_HOOKS_MIN_ELEMENTS", K::integer, S::process, "4096", 0, 1e18,
     nullptr, "hooks: reductions of fewer elements are not summarized (no cost on small messages)",
     nullptr, nullptr},
    {"hooks_grad", "TTAP_HOOKS_GRAD", K::text, S::process, "", 0, 0, nullptr,
     "hooks: stored names of reductions that are gradients (globs joined by '|', e.g. "
     "'mpi.allreduce.*'); others are kind collective, without the gradient detectors",
     nullptr, nullptr},
    {"debug", "TTAP_DEBUG", K::choice, S::process, "WARN", 0, 0, "WARN|INFO|TRACE",
     "log level", nullptr, nullptr},
};
#undef TTAP_SET

// Plain variables read as fallbacks (launchers and terminals set them), listed by `ttap env` too.
constexpr const char *kFallbackVars[] = {
    "RANK", "WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "TERM", "NO_COLOR"};

// Never destroyed: the hooks close their session from an atexit handler, which runs after this
// library's static destructors when libttap was loaded after the hooks registered it, and the
// collector thread then still reads the log level (a destroyed map made its lookup spin forever).
// Made on first use, so a static initializer elsewhere that reads a knob finds them too.
std::mutex &env_mutex() {
  static auto *mutex = new std::mutex;
  return *mutex;
}
std::map<std::string, std::optional<std::string>> &env_cache() {
  static auto *cache = new std::map<std::string, std::optional<std::string>>;
  return *cache;
}

std::string format_number(double x) {
  std::ostringstream s;
  s.precision(15);
  s << x;
  return s.str();
}

// Applies one key=value to the config; `source` names where it came from for messages.
bool apply(session_config &c, const std::string &key, const std::string &value,
           const std::string &source, std::string *error) {
  const knob *k = find_knob(key);
  if (!k) {
    std::string known;
    for (const knob &each : kKnobs) {
      if (each.scope == knob_scope::session)
        known += (known.empty() ? "" : ", ") + std::string(each.name);
    }
    *error = source + ": unknown option '" + key + "' (known: " + known + ")";
    return false;
  }
  if (k->scope != knob_scope::session) {
    *error = source + ": '" + key + "' is read from the environment only (set " + k->env + ")";
    return false;
  }
  knob_value v;
  std::string why;
  if (!parse_knob(*k, value, &v, &why)) {
    *error = source + ": " + why;
    return false;
  }
  k->apply(c, v);
  for (auto &[name, text] : c.knob_text) {
    if (name == key) text = value;
  }
  return true;
}

}  // namespace

std::span<const knob> knobs() { return kKnobs; }

const knob *find_knob(const std::string &name) {
  for (const knob &k : kKnobs) {
    if (name == k.name) return &k;
  }
  return nullptr;
}

std::string knob_range(const knob &k) {
  switch (k.type) {
    case knob_type::integer:
      return "an integer from " + format_number(k.min) + " to " + format_number(k.max);
    case knob_type::real:
      return "a number from " + format_number(k.min) + " to " + format_number(k.max);
    case knob_type::choice: {
      std::string c = k.choices, out;
      for (size_t start = 0;;) {
        size_t bar = c.find('|', start);
        std::string choice = c.substr(start, bar - start);
        out += (out.empty() ? "" : bar == std::string::npos ? " or " : ", ") + choice;
        if (bar == std::string::npos) break;
        start = bar + 1;
      }
      return out;
    }
    case knob_type::choice_set: {
      knob as_choice = k;
      as_choice.type = knob_type::choice;
      return knob_range(as_choice) + ", or several joined by '+'";
    }
    case knob_type::text:
      if (k.check_text) return k.check_text("") ? k.check_text("") : "text";
      return "text";
  }
  return "";
}

bool parse_knob(const knob &k, const std::string &value, knob_value *out, std::string *error) {
  auto refuse = [&](const std::string &problem) {
    *error = std::string(k.name) + "=" + value + " " + problem + ": " + k.name + " (" + k.env +
             ") takes " + knob_range(k);
    return false;
  };
  knob_value v;
  v.text = value;
  switch (k.type) {
    case knob_type::integer: {
      errno = 0;
      char *end = nullptr;
      long long x = value.empty() ? 0 : std::strtoll(value.c_str(), &end, 10);
      if (value.empty() || errno == ERANGE || *end != '\0') return refuse("is not an integer");
      if (double(x) < k.min || double(x) > k.max) return refuse("is out of range");
      v.integer = x;
      break;
    }
    case knob_type::real: {
      errno = 0;
      char *end = nullptr;
      double x = value.empty() ? 0 : std::strtod(value.c_str(), &end);
      if (value.empty() || *end != '\0' || !std::isfinite(x)) return refuse("is not a number");
      if (x < k.min || x > k.max) return refuse("is out of range");
      v.real = x;
      break;
    }
    case knob_type::choice: {
      std::string c = std::string("|") + k.choices + "|";
      auto at = c.find("|" + value + "|");
      if (value.empty() || value.find('|') != std::string::npos || at == std::string::npos)
        return refuse("is not valid");
      int index = 0;
      for (size_t i = 0; i < at; ++i) index += c[i] == '|';
      v.integer = index;
      break;
    }
    case knob_type::choice_set: {
      const std::string c = std::string("|") + k.choices + "|";
      std::stringstream words(value);
      std::string word;
      size_t chars = 0;
      v.integer = 0;
      while (std::getline(words, word, '+')) {
        chars += word.size() + 1;
        const auto at = c.find("|" + word + "|");
        if (word.empty() || word.find('|') != std::string::npos || at == std::string::npos)
          return refuse(word.empty() ? "is not valid (an empty choice)"
                                     : "is not valid (unknown choice '" + word + "')");
        int index = 0;
        for (size_t i = 0; i < at; ++i) index += c[i] == '|';
        if (v.integer & (int64_t(1) << index))
          return refuse("is not valid ('" + word + "' twice)");
        v.integer |= int64_t(1) << index;
      }
      if (value.empty() || chars != value.size() + 1)  // empty, or a trailing '+'
        return refuse("is not valid (an empty choice)");
      if (k.check_text)
        if (const char *problem = k.check_text(value))
          return refuse(std::string("is not valid (") + problem + ")");
      break;
    }
    case knob_type::text:
      if (k.check_text && k.check_text(value)) return refuse("is not valid");
      break;
  }
  *out = std::move(v);
  return true;
}

knob_value process_knob(const char *name) {
  const knob *k = find_knob(name);
  knob_value v;
  if (!k) return v;  // a misspelt name in tensortap's own code: the tests catch it
  std::string error;
  if (auto text = env_value(k->env); text && parse_knob(*k, *text, &v, &error))
    return v;
  else if (text)
    warn_once(k->env, "%s: using the default %s", error.c_str(),
              *k->default_value ? k->default_value : "(none)");
  parse_knob(*k, k->default_value, &v, &error);
  if (k->type == knob_type::text) v.text = k->default_value;
  return v;
}

std::optional<std::string> env_value(const char *name) {
  std::lock_guard<std::mutex> lock(env_mutex());
  auto &cache = env_cache();
  auto it = cache.find(name);
  if (it != cache.end()) return it->second;
  const char *v = std::getenv(name);
  std::optional<std::string> value;
  if (v && *v) value = std::string(v);
  cache.emplace(name, value);
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
  std::string s;
  for (const auto &[name, text] : knob_text) {
    if (text.empty()) continue;
    // The URL's path is often its secret (Slack's tokens): the store keeps the host only.
    s += (s.empty() ? "" : ",") + name + "=" + (name == "alert_webhook" ? redacted_url(text) : text);
  }
  return s;
}

bool make_session_config(const char *run_dir, const char *options, session_config *out,
                         std::string *error) {
  session_config c;
  for (const knob &k : kKnobs) {
    if (k.scope == knob_scope::session) c.knob_text.emplace_back(k.name, k.default_value);
  }
  // Rank and world from the launcher's variables, then tensortap's own.
  for (const char *name : {"OMPI_COMM_WORLD_RANK", "RANK"}) {
    if (auto v = env_value(name); v && !apply(c, "rank", *v, name, error)) return false;
  }
  for (const char *name : {"OMPI_COMM_WORLD_SIZE", "WORLD_SIZE"}) {
    if (auto v = env_value(name); v && !apply(c, "world", *v, name, error)) return false;
  }
  for (const knob &k : kKnobs) {
    if (k.scope != knob_scope::session) continue;
    if (auto v = env_value(k.env); v && !apply(c, k.name, *v, k.env, error)) return false;
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
  *out = std::move(c);
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
