// The sampler's budget rule: after each sample, the stride becomes the number of steps whose time,
// times the budget, pays for one sample's cost, never below `every`. Moving averages keep one slow
// step or sample from swinging it.
#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>

namespace ttap {
namespace {

constexpr double kAverageWeight = 0.2;  // weight of the newest observation
constexpr int64_t kMaxStride = int64_t(1) << 20;

}  // namespace

sampler::sampler(const session_config &config)
    : m_every(config.every),
      m_interval_ns(int64_t(config.interval_ms * 1e6)),
      m_budget(config.budget),
      m_stride(config.every) {}

void sampler::observe_step_time(int64_t dt_ns) {
  m_step_ns_total += dt_ns;
  ++m_steps_timed;
  m_step_ns_avg = m_step_ns_avg == 0
                      ? double(dt_ns)
                      : (1 - kAverageWeight) * m_step_ns_avg + kAverageWeight * double(dt_ns);
}

void sampler::sample_taken(int64_t step, int64_t now_ns, int64_t cost_ns) {
  m_have_sampled = true;
  m_last_sample_step = step;
  m_sample_step_ns = m_step_ns_total;
  m_sample_steps = m_steps_timed;
  m_last_sample_ns = now_ns;
  m_overhead_ns += cost_ns;
  // One sample stalled by the machine (a preempted thread, a page-fault storm) must not switch
  // sampling off for thousands of steps: each observation moves the average by at most 4x.
  double cost = double(cost_ns);
  if (m_cost_ns_avg > 0) cost = std::clamp(cost, m_cost_ns_avg / 4, m_cost_ns_avg * 4);
  m_cost_ns_avg =
      m_cost_ns_avg == 0 ? cost : (1 - kAverageWeight) * m_cost_ns_avg + kAverageWeight * cost;
  update_stride();
}

int64_t sampler::stride_for_cost(double cost_ns) const {
  if (m_budget <= 0 || m_step_ns_avg <= 0) return m_every;
  // A sample costing c (host + device) every k steps of time t each stays under budget b when
  // c <= b * k * t.
  const double steps = std::ceil(cost_ns / (m_budget * m_step_ns_avg));
  return steps > double(m_every) ? std::min<int64_t>(int64_t(steps), kMaxStride) : m_every;
}

void sampler::device_time_observed(int64_t mean_device_ns) {
  // Measured by the device's own clock, not exposed to host stalls: no clamp, and the first
  // observation counts in full (a slow device must thin sampling from the next sample on).
  double ns = double(std::max<int64_t>(mean_device_ns, 0));
  m_device_ns_avg =
      m_device_ns_avg == 0 ? ns : (1 - kAverageWeight) * m_device_ns_avg + kAverageWeight * ns;
  update_stride();
}

int64_t sampler::desired_stride() const {
  int64_t stride = m_stride;
  if (m_interval_ns > 0 && m_step_ns_avg > 0) {
    double steps = std::ceil(double(m_interval_ns) / m_step_ns_avg);
    stride = std::max(stride, std::min<int64_t>(int64_t(steps), kMaxStride));
  }
  return stride;
}

double sampler::mean_step_seconds() const {
  const int64_t steps = m_steps_timed - m_sample_steps;
  if (steps > 0) return double(m_step_ns_total - m_sample_step_ns) * 1e-9 / double(steps);
  return m_step_ns_avg * 1e-9;
}

}  // namespace ttap
