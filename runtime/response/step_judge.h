// The training thread's half of the response policies: each sample's summaries folded into what
// ttap_verdict needs about its step (which tensors hold NaN/Inf, which gradients spiked), the
// recent summaries and scalars a forensic dump writes, and the group's vote (one all-reduce).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "runtime/config.h"
#include "runtime/detectors/detector.h"
#include "runtime/response/forensic_dump.h"

namespace ttap {

class group_comm;

// What one sampled step showed, on this rank.
struct step_findings {
  int64_t step = -1;               // the step of the sample folded last; -1: none yet
  std::vector<int32_t> nonfinite;  // tensor ids holding NaN/Inf, in watch order
  std::vector<int32_t> spiking;    // gradient tensor ids whose l2 spiked (scored only when
                                   // on_spike acts)
};

// A verdict's votes, summed over the ranks of a group by one all-reduce.
struct verdict_votes {
  double skip = 0, abort = 0, spike = 0, nonfinite_tensors = 0;
};

class step_judge {
 public:
  // Scalars kept for a dump's "scalars".
  static constexpr size_t kRecentScalars = 64;
  // Summaries per tensor kept for a dump's "history" (the K).
  static constexpr size_t kDumpHistory = 16;

  explicit step_judge(const session_config &config);

  // The sample of `step` begins; its tensors follow in watch order.
  void begin(int64_t step);
  void add(const tensor_info &t, const sample_record &r);
  void add_scalar(const scalar_record &s);

  const step_findings &findings() const { return m_findings; }
  const summary_history &history() const { return m_history; }
  const std::deque<scalar_record> &recent_scalars() const { return m_scalars; }

  // This rank's votes for the findings (zero when `step` is not the step of the findings).
  verdict_votes votes(int64_t step) const;

 private:
  response_policy m_on_nonfinite, m_on_spike;
  std::unique_ptr<detector> m_spikes;  // null unless on_spike acts
  bool m_keep_history;
  step_findings m_findings;
  summary_history m_history;
  std::deque<scalar_record> m_scalars;
  std::vector<alert> m_scratch;
};

// Sums `v` over the group in one all-reduce of four doubles. False with *error when the
// communicator failed (the caller then decides on its own votes).
bool sum_votes(group_comm &comm, verdict_votes *v, std::string *error);

}  // namespace ttap
