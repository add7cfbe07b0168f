// The sampler: decides at each step whether a sample is due (every N steps, at least interval_ms
// apart, and rarely enough that tensortap's own time on the training thread stays under the budget
// fraction of step time). Called on the training thread; cheap when not due.
#pragma once

#include <cstdint>

#include "runtime/config.h"

namespace ttap {

class sampler {
 public:
  explicit sampler(const session_config &config);

  // Called once per step with a monotonic clock in nanoseconds.
  bool due(int64_t step, int64_t now_ns) {
    if (m_last_step_ns >= 0 && now_ns > m_last_step_ns) observe_step_time(now_ns - m_last_step_ns);
    m_last_step_ns = now_ns;
    if (m_have_sampled) {
      if (step - m_last_sample_step < m_stride) return false;
      if (m_interval_ns > 0 && now_ns - m_last_sample_ns < m_interval_ns) return false;
    }
    return true;
  }

  // In a group (ttap_set_group), instead of due(): due at the multiples of the group's agreed
  // `stride`, so that every rank samples the same steps whatever its own timing (the agreement
  // rule is in runtime/group/group_reducer.h). every, interval_ms and the budget then only shape
  // the stride this rank asks the group for (desired_stride()).
  bool due_on_grid(int64_t step, int64_t now_ns, int64_t stride) {
    if (m_last_step_ns >= 0 && now_ns > m_last_step_ns) observe_step_time(now_ns - m_last_step_ns);
    m_last_step_ns = now_ns;
    if (stride <= 0 || step % stride != 0) return false;
    return !m_have_sampled || step > m_last_sample_step;
  }

  // A sample was taken at `step`; cost_ns is the time it took on the training thread.
  void sample_taken(int64_t step, int64_t now_ns, int64_t cost_ns);

  // The mean device time of the samples that completed since the last call (measured when their
  // slots complete, so it trails the samples by a step or more). The budget counts host + device
  // time per sample; the stride is recomputed at once.
  void device_time_observed(int64_t mean_device_ns);

  // The steps between samples this rank would like in a group: the budget's stride, and as many
  // steps as interval_ms spans at the current step time.
  int64_t desired_stride() const;
  // Mean time per step since the previous sample (the moving average when no step was timed since),
  // s; 0 before any step was timed. Called before sample_taken() for the sample being posted.
  double mean_step_seconds() const;

  // Steps between samples right now (every N, raised by the budget).
  int64_t stride() const { return m_stride; }
  // What the budget's stride is made of (moving averages, ns; 0 before the first observation):
  // for tests and diagnostics, which judge the rule by these rather than by wall-clock shares.
  double host_ns_per_sample() const { return m_cost_ns_avg; }
  double device_ns_per_sample() const { return m_device_ns_avg; }
  double step_ns_average() const { return m_step_ns_avg; }
  int64_t last_sample_step() const { return m_have_sampled ? m_last_sample_step : -1; }
  // The stride the budget sets for a sample costing `cost_ns` in all at the current step time.
  int64_t stride_for_cost(double cost_ns) const;
  double overhead_seconds() const { return double(m_overhead_ns) * 1e-9; }
  double step_seconds() const { return double(m_step_ns_total) * 1e-9; }
  int64_t step_ns_total() const { return m_step_ns_total; }

 private:
  void observe_step_time(int64_t dt_ns);
  void update_stride() { m_stride = stride_for_cost(m_cost_ns_avg + m_device_ns_avg); }

  int64_t m_every;
  int64_t m_interval_ns;
  double m_budget;

  bool m_have_sampled = false;
  int64_t m_last_sample_step = 0;
  int64_t m_last_sample_ns = 0;
  int64_t m_last_step_ns = -1;
  int64_t m_stride;

  double m_step_ns_avg = 0;    // exponential moving averages
  double m_cost_ns_avg = 0;    // host time per sample
  double m_device_ns_avg = 0;  // device time per sample
  int64_t m_overhead_ns = 0;
  int64_t m_step_ns_total = 0;
  int64_t m_steps_timed = 0;
  // m_step_ns_total and m_steps_timed when the last sample was taken.
  int64_t m_sample_step_ns = 0;
  int64_t m_sample_steps = 0;
};

}  // namespace ttap
