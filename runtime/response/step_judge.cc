// Folding samples into a step's findings, and the group's vote over them.
#include "runtime/response/step_judge.h"

#include <array>

#include "runtime/group/group_comm.h"

namespace ttap {

step_judge::step_judge(const session_config &config)
    : m_on_nonfinite(config.on_nonfinite),
      m_on_spike(config.on_spike),
      m_keep_history(config.on_nonfinite.dump || config.on_spike.dump),
      m_history(m_keep_history ? kDumpHistory : 0) {
  // The same detector as the collector's, with state of its own: a verdict must not wait for the
  // collector thread to have scored the step.
  if (m_on_spike.acts_at_verdict()) m_spikes = make_spike_detector(config.detectors);
}

void step_judge::begin(int64_t step) {
  m_findings.step = step;
  m_findings.nonfinite.clear();
  m_findings.spiking.clear();
}

void step_judge::add(const tensor_info &t, const sample_record &r) {
  if (r.stats.nan + r.stats.pos_inf + r.stats.neg_inf > 0) m_findings.nonfinite.push_back(t.id);
  if (m_spikes) {
    m_scratch.clear();
    m_spikes->on_sample(t, r, m_scratch);
    if (!m_scratch.empty()) m_findings.spiking.push_back(t.id);
  }
  if (m_keep_history) m_history.add(t.id, r.step, r.stats);
}

void step_judge::add_scalar(const scalar_record &s) {
  if (!m_keep_history) return;
  if (m_scalars.size() == kRecentScalars) m_scalars.pop_front();
  m_scalars.push_back(s);
}

verdict_votes step_judge::votes(int64_t step) const {
  verdict_votes v;
  if (step != m_findings.step) return v;
  const bool nonfinite = !m_findings.nonfinite.empty();
  const bool spike = !m_findings.spiking.empty();
  v.nonfinite_tensors = double(m_findings.nonfinite.size());
  v.spike = spike ? 1 : 0;
  v.abort = nonfinite && m_on_nonfinite.abort ? 1 : 0;
  v.skip = (nonfinite && m_on_nonfinite.skip) || (spike && m_on_spike.skip) ? 1 : 0;
  return v;
}

bool sum_votes(group_comm &comm, verdict_votes *v, std::string *error) {
  std::array<double, 4> values = {v->skip, v->abort, v->spike, v->nonfinite_tensors};
  if (!comm.allreduce_sum(values, error)) return false;
  *v = {values[0], values[1], values[2], values[3]};
  return true;
}

}  // namespace ttap
