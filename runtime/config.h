// Configuration in one place: the knob registry. Every knob is declared once (name, TTAP_*
// variable, type, default, range, one-line meaning) and that one declaration serves ttap_open's
// options string, the environment, the hooks, `ttap run` and `ttap env`. No other file calls
// getenv.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "runtime/detectors/detector.h"
#include "runtime/response/response_policy.h"

namespace ttap {

enum class backend_choice { automatic, cpu, emulated, cuda };

// A session's effective configuration: defaults, then the environment, then the options string.
struct session_config {
  std::string run_dir = "ttap-run";
  bool run_dir_given = false;  // by ttap_open or TTAP_RUN_DIR (else the default, see session.cc)
  bool append = false;         // mode=append: add to a directory that holds an earlier run
  bool store = true;           // store=off: no ttap.db (the other sinks only)
  int64_t every = 1;       // sample every N steps
  double interval_ms = 0;  // minimum time between samples
  double budget = 0.01;    // overhead budget, fraction of step time (0: off)
  backend_choice backend = backend_choice::automatic;
  double emulated_gbps = 2000;  // the emulated device's modeled bandwidth (device time model)
  double flush_ms = 1000;  // store commit interval
  // Responses to a non-finite value and to a gradient spike (runtime/response/): warn always;
  // skip and dump at ttap_verdict; abort (non-finite only) once the alert is stored.
  response_policy on_nonfinite;
  response_policy on_spike;
  double dump_max_mb = 256;  // bytes of tensors one dump may hold
  int64_t dump_max = 3;      // dumps per session
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
  // A JSON-lines copy of every record, scalar and alert (empty: none; see runtime/sinks/).
  std::string jsonl;
  // The detectors' thresholds.
  detector_config detectors;
  // Every session knob as name and value text, in registry order, for the store's record of the
  // run (filled by make_session_config).
  std::vector<std::pair<std::string, std::string>> knob_text;

  // "every=1,interval_ms=0,..." for the store's record of the run.
  std::string to_string() const;
};

// choice_set: one or more of the choices joined by '+' ("skip+dump"), each at most once.
enum class knob_type { integer, real, choice, choice_set, text };
// session: per session, from the environment or ttap_open's options (options win).
// process: read from the environment once per process (run directory default, hooks, logging).
enum class knob_scope { session, process };

// A parsed knob value; which member holds it follows the knob's type (choice: the index of the
// choice in `choices`; choice_set: a bit per chosen index).
struct knob_value {
  int64_t integer = 0;
  double real = 0;
  std::string text;
};

// One knob. Integer and real knobs are checked against [min, max]; choice and choice_set knobs
// against their '|'-separated choices; text knobs (and choice_set knobs' combinations) by
// `check_text` when set.
struct knob {
  const char *name;  // the options key and `ttap run --set` key: "every"
  const char *env;   // "TTAP_EVERY"
  knob_type type;
  knob_scope scope;
  const char *default_value;
  double min, max;
  const char *choices;  // choice and choice_set knobs: "auto|cpu|emulated|cuda"
  const char *meaning;  // one line, for `ttap env`, --help and the README
  // Session knobs: stores the value into the configuration.
  void (*apply)(session_config &, const knob_value &);
  // Text knobs: null when the value is fine, else what is expected. choice_set knobs: null when
  // the combination is fine, else what is wrong with it.
  const char *(*check_text)(const std::string &);
};

// Every knob, in the order `ttap env` prints them.
std::span<const knob> knobs();
// The knob named `name` (options key), or null.
const knob *find_knob(const std::string &name);
// Parses `value` for `k`. False with *error naming the knob, the value and the allowed range
// ("every=0 is out of range: every (TTAP_EVERY) takes an integer from 1 to 1099511627776").
bool parse_knob(const knob &k, const std::string &value, knob_value *out, std::string *error);
// What a knob accepts, for messages and --help: "an integer from 1 to 1099511627776".
std::string knob_range(const knob &k);

// A process knob's value from the environment (cached), its default when unset; a value that does
// not parse is reported once (warn_once, naming the knob and its range) and the default used:
// a process knob is read inside other programs (the hooks), which must never fail for it.
knob_value process_knob(const char *name);

// Variables set by launchers (RANK, WORLD_SIZE, OMPI_COMM_WORLD_*) or terminals (TERM, NO_COLOR)
// that tensortap reads as fallbacks; `ttap env` shows them too.
std::span<const char *const> fallback_variables();

// The environment value of a knob's variable or of a plain variable such as RANK, read once per
// process and cached; nullopt when unset or empty.
std::optional<std::string> env_value(const char *name);

// Builds the configuration for a session. run_dir: the argument of ttap_open (null: environment or
// default). options: null or "key=value,key=value". Returns false with *error naming the key or
// value that does not parse, or the unknown key with the known ones.
bool make_session_config(const char *run_dir, const char *options, session_config *out,
                         std::string *error);

const char *backend_name(backend_choice b);

// A run's name for people and fleet tools (the webhook's and the metrics' `run`): the last
// component of the run directory's absolute path, e.g. "ttap-run-3".
std::string run_name(const std::string &run_dir);

// Whether color output is allowed for a terminal (NO_COLOR unset or empty, TERM not "dumb").
bool color_allowed_by_environment();

}  // namespace ttap
