// Host cost of the C API on the training thread: ttap_step when no sample is due, when one is due
// with N device tensors (the emulated backend, whose device work runs on its own stream thread and
// so is excluded like a GPU's), and when one is due with host tensors (summarized by the cpu
// executor before ttap_step returns, so their whole cost is the training thread's), against the
// issue's targets; host targets are ratios to figures measured in the same run.
#pragma once

#include <string>
#include <vector>

namespace ttap::bench {

struct step_cost {
  std::string what;  // "not due", "due, 100 device tensors", "due, 100 x 1000 host f32", ...
  int tensors = 0;
  double ns_per_call;  // median
  double target_ns;    // the target for this case
  std::string basis;   // how a target relative to another figure of this run was derived
  std::string call = "ttap_step";  // the C API call timed
};

// The groups of rows run_step_cost_bench can measure; the store's ingest is measured by the caller.
// Every group but the emulated-device ones takes seconds; those take minutes on a small machine.
struct step_cost_groups {
  bool not_due = true;
  bool host = true;     // due steps on host tensors (cpu backend)
  bool device = true;   // due steps on emulated device tensors
  bool verdict = true;  // ttap_verdict, cpu and emulated
};

// Runs in a temporary run directory it removes afterwards. `progress` (may be null) gets one line
// per case, as soon as it is measured, and a note goes to stderr before each slow group. With
// `cpu_time`, calls are timed by the calling thread's CPU time (and the executor's large-tensor
// bandwidth by the process's), which other load on the machine does not inflate.
std::vector<step_cost> run_step_cost_bench(void (*progress)(const char *), bool cpu_time = false,
                                           step_cost_groups groups = {});

}  // namespace ttap::bench
