// run_monitor::poll: open the store once it exists, then read only rows after the last ones seen,
// so following a long run costs as much per second as the run writes per second.
#include "tools/run/run_monitor.h"

#include "runtime/store/store_files.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

namespace ttap {

monitored_tensor *run_monitor::tensor_for(int32_t rank, int32_t id) {
  auto it = m_index.find({rank, id});
  if (it != m_index.end()) return &m_snapshot.tensors[it->second];
  // A tensor registered since the last refresh: reload the list.
  std::vector<tensor_row> rows;
  if (!m_reader->tensors(&rows)) return nullptr;
  for (const tensor_row &t : rows) {
    if (m_index.count({t.rank, t.id})) continue;
    monitored_tensor m;
    m.rank = t.rank;
    m.id = t.id;
    m.name = t.name;
    m.kind = t.kind;
    m_index[{t.rank, t.id}] = m_snapshot.tensors.size();
    m_snapshot.tensors.push_back(m);
  }
  it = m_index.find({rank, id});
  return it == m_index.end() ? nullptr : &m_snapshot.tensors[it->second];
}

bool run_monitor::poll() {
  if (!m_reader) {
    std::vector<store_file> files;
    std::string ignored;
    if (!list_store_files(m_dir, &files, &ignored) || files.empty())
      return true;  // the trainer has not opened it yet
    m_reader = run_reader::open(m_dir, &m_error);
    if (!m_reader) return false;
    m_snapshot.store_present = true;
  }
  // Ranks that open their store later add files.
  if (!m_reader->refresh()) return m_error = m_reader->last_error(), false;
  m_snapshot.files = m_reader->files();
  std::vector<sample_row> rows;
  if (!m_reader->samples(&m_sample_cursor, false, &rows))
    return m_error = m_reader->last_error(), false;
  for (const sample_row &r : rows) {
    ++m_snapshot.sample_rows;
    monitored_tensor *t = tensor_for(r.rank, r.tensor_id);
    double l2 = r.l2.value_or(0.0);
    if (t) {
      if (t->samples == 0) {
        t->first_step = r.step;
        t->first_l2 = l2;
      }
      ++t->samples;
      t->last_step = r.step;
      t->last_l2 = l2;
      t->max_l2 = std::max(t->max_l2, l2);
      t->last_abs_max = r.abs_max.value_or(0.0);
      t->last_nonfinite = r.nonfinite();
      t->nonfinite_total += r.nonfinite();
    }
    // The global norm of the newest step: rows arrive in step order, a new step starts a new sum.
    if (r.step != m_norm_step) {
      m_norm_step = r.step;
      m_norm_grad_sq = m_norm_all_sq = 0;
      m_norm_has_grad = false;
    }
    double sq = l2 * l2;
    m_norm_all_sq += sq;
    if (t && t->kind == "grad") {
      m_norm_grad_sq += sq;
      m_norm_has_grad = true;
    }
    m_snapshot.latest_step = std::max(m_snapshot.latest_step, r.step);
  }
  if (m_norm_step >= 0)
    m_snapshot.global_grad_norm = std::sqrt(m_norm_has_grad ? m_norm_grad_sq : m_norm_all_sq);

  std::vector<alert_row> alerts;
  if (!m_reader->alerts(&m_alert_cursor, &alerts))
    return m_error = m_reader->last_error(), false;
  for (const alert_row &a : alerts) {
    ++m_snapshot.alerts_total;
    ++m_snapshot.alerts_by_type[a.type];
    if (m_snapshot.first_alerts.size() < kFirstAlertsKept) m_snapshot.first_alerts.push_back(a);
    if (a.type == "nonfinite" && m_snapshot.first_nonfinite.step < 0)
      m_snapshot.first_nonfinite = a;
  }

  std::vector<run_counters_row> counters;
  if (!m_reader->counters(&counters)) return m_error = m_reader->last_error(), false;
  const run_counters_row total = sum_counters(counters);
  run_snapshot &s = m_snapshot;
  s.samples_taken = total.samples_taken;
  s.samples_skipped = total.samples_skipped;
  s.records_dropped = total.records_dropped;
  s.samples_rejected = total.samples_rejected;
  s.records_lost = total.records_lost;
  if (!m_reader->sessions(&s.sessions)) return m_error = m_reader->last_error(), false;
  s.overhead_seconds = total.overhead_seconds;
  s.step_seconds = total.step_seconds;
  return true;
}

}  // namespace ttap
