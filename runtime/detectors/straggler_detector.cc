// straggler: a rank whose steps take longer than the others'. Each rank reports its mean step time
// since its previous sample (its sampler measures the time between ttap_step calls); each rank's
// median over its recent samples (so one slow step, a checkpoint or a page fault, does not count)
// is scored against the median of the ranks, as a ratio. Ranks that synchronize every step (a
// blocking gradient all-reduce) all see the slowest rank's step time, so this finds stragglers
// where the ranks are not lock-stepped at the point where ttap_step is called. A rank must also be
// slower than the median by an absolute margin (straggler_min_excess_seconds): the ratio alone
// turns scheduler noise on millisecond steps into alerts on a loaded host.
#include <cmath>
#include <vector>

#include "runtime/detectors/detector.h"
#include "runtime/detectors/detector_support.h"
#include "runtime/detectors/robust_window.h"

namespace ttap {
namespace {

class straggler_detector final : public group_detector {
 public:
  explicit straggler_detector(const detector_config &c) : m_config(c) {}
  const char *name() const override { return "straggler"; }

  void on_group_sample(const group_sample &g, const std::vector<tensor_info> &tensors,
                       std::vector<alert> &out) override {
    const size_t world = g.ranks.size();
    if (m_recent.size() < world) m_recent.resize(world);
    std::vector<size_t> timed;
    std::vector<double> logs;
    for (size_t r = 0; r < world; ++r) {
      const double s = g.ranks[r].step_seconds;
      std::vector<double> &recent = m_recent[r];
      if (s > 0 && std::isfinite(s)) {
        if (recent.size() == kRecent) recent.erase(recent.begin());
        recent.push_back(std::log(s));
      }
      if (recent.size() < kMinRecent) continue;
      std::vector<double> scratch = recent;
      timed.push_back(r);
      logs.push_back(robust_center_of(scratch, 0.0).median);
    }
    if (int(timed.size()) < m_config.group_min_ranks) return;
    std::vector<double> scratch = logs;
    const robust_center c = robust_center_of(scratch, m_config.straggler_min_scale);
    if (m_flagged.size() < world) m_flagged.resize(world, 0);
    for (size_t i = 0; i < timed.size(); ++i) {
      const size_t r = timed[i];
      const double z = (logs[i] - c.median) / c.scale;
      // Slower only: a rank that is faster than the rest is not holding anyone up.
      const double excess = std::exp(logs[i]) - std::exp(c.median);
      const bool margin = excess >= m_config.straggler_min_excess_seconds;
      if (!(z > m_config.straggler_threshold) || !margin) {
        // Named again only after it recovered (no longer the margin slower): with few ranks, the
        // others' spread under CPU contention moves z across the threshold while it stays slow.
        if (!margin) m_flagged[r] = 0;
        continue;
      }
      if (m_flagged[r]) continue;
      m_flagged[r] = 1;
      // Medians over each rank's recent samples.
      const double seconds = std::exp(logs[i]), median = std::exp(c.median);
      out.push_back(make_group_alert(
          g, tensors, g.ranks[r].rank, -1, alert_type::straggler,
          format_text("rank %d is a straggler: %.4g s per step, %.3gx the median %.4g s of %zu "
                      "ranks (medians of their last samples; robust z %.1f in log space, "
                      "threshold %g)",
                      g.ranks[r].rank, seconds, seconds / median, median, timed.size(), z,
                      m_config.straggler_threshold)));
    }
  }

 private:
  static constexpr size_t kRecent = 9;     // samples per rank the median is taken over
  static constexpr size_t kMinRecent = 3;  // no verdict on a rank before this many

  detector_config m_config;
  std::vector<std::vector<double>> m_recent;  // by group rank: log step times, oldest first
  std::vector<uint8_t> m_flagged;             // by group rank
};

}  // namespace

std::unique_ptr<group_detector> make_straggler_detector(const detector_config &config) {
  return std::make_unique<straggler_detector>(config);
}

}  // namespace ttap
