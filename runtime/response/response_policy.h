// What tensortap does when it detects an anomaly: the knobs on_nonfinite and on_spike (declared in
// the knob registry, runtime/config.cc), each a set of responses joined by '+' ("skip+dump").
// warn (an alert line and a stored alert) always happens; skip and dump are decided at
// ttap_verdict, on the training thread; abort ends the process once the alert is stored (the
// response sink, runtime/sinks/response_sink.cc).
#pragma once

#include <cstdint>
#include <string>

namespace ttap {

struct response_policy {
  bool skip = false;   // ttap_verdict says skip: the caller leaves out this optimizer step
  bool dump = false;   // ttap_verdict writes the offending tensors and recent summaries to disk
  bool abort = false;  // the process exits with status 3 once the alert is stored

  // Whether a response needs the step's verdict before the optimizer step (and so a sample at
  // every step).
  bool acts_at_verdict() const { return skip || dump; }
  bool operator==(const response_policy &) const = default;
};

// The policy of a choice_set knob's bits (runtime/config.cc): warn, skip, dump, abort in that
// order (on_spike's choices stop before abort). The registry has checked the combination.
response_policy response_policy_of_bits(int64_t bits);

// "warn", "skip+dump", ... (the form the knobs take).
std::string response_policy_text(const response_policy &p);

}  // namespace ttap
