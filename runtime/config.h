// Configuration in one place: every TTAP_* environment knob is declared here with its default and
// a one-line description, read once (cached), and overridden by a session's options string. No
// other file calls getenv.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace ttap {

// One environment knob, as `ttap env` lists it.
struct knob {
  const char *env;     // "TTAP_EVERY"
  const char *option;  // the options-string key ("every"), or null when env-only
  const char *default_value;
  const char *description;
};

// Every knob, in the order `ttap env` prints them.
std::span<const knob> knobs();

// Variables set by launchers (RANK, WORLD_SIZE, OMPI_COMM_WORLD_*) or terminals (TERM) that
// tensortap reads as fallbacks; `ttap env` shows them too.
std::span<const char *const> fallback_variables();

// The environment value of a knob (or of a plain variable such as RANK), read once per process and
// cached; nullopt when unset or empty.
std::optional<std::string> env_value(const char *name);

enum class backend_choice { automatic, cpu, emulated, cuda };
enum class nonfinite_action { warn, abort };

// A session's effective configuration: defaults, then the environment, then the options string.
struct session_config {
  std::string run_dir = "ttap-run";
  bool run_dir_given = false;  // by ttap_open or TTAP_RUN_DIR (else the default, see session.cc)
  bool append = false;         // mode=append: add to a directory that holds an earlier run
  int64_t every = 1;       // sample every N steps
  double interval_ms = 0;  // minimum time between samples
  double budget = 0.01;    // overhead budget, fraction of step time (0: off)
  backend_choice backend = backend_choice::automatic;
  double flush_ms = 1000;  // store commit interval
  nonfinite_action on_nonfinite = nonfinite_action::warn;
  int32_t rank = 0;
  int32_t world = 1;
  // Group tensor roles (see tensor_role): fnmatch globs joined by '|', matched against tensor
  // names; empty: the default by kind.
  std::string replicated;
  std::string sharded;
  // Alerts POSTed as JSON to this http(s) URL from the webhook sink's thread (empty: none), each
  // attempt (and close()'s wait for the queue) bounded by alert_webhook_timeout_ms.
  std::string alert_webhook;
  double alert_webhook_timeout_ms = 5000;

  // "every=1,interval_ms=0,..." for the store's record of the run.
  std::string to_string() const;
};

// Builds the configuration for a session. run_dir: the argument of ttap_open (null: environment or
// default). options: null or "key=value,key=value". Returns false with *error naming the key or
// value that does not parse.
bool make_session_config(const char *run_dir, const char *options, session_config *out,
                         std::string *error);

const char *backend_name(backend_choice b);

// A run's name for people and fleet tools (the webhook's and the metrics' `run`): the last
// component of the run directory's absolute path, e.g. "ttap-run-3".
std::string run_name(const std::string &run_dir);

// Whether color output is allowed for a terminal (NO_COLOR unset or empty, TERM not "dumb").
bool color_allowed_by_environment();

}  // namespace ttap
