// run_monitor::poll: open the store once it exists, then read only rows after the last ones seen,
// so following a long run costs as much per second as the run writes per second.
#include "tools/run/run_monitor.h"

#include "runtime/store/store_files.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>

namespace ttap {
namespace {

// Adds a row's l2 to the sum of its step; a row of a newer step starts a new sum (rows arrive in
// step order per writer).
template <typename Sum>
void add_to_norm(Sum &n, int64_t step, double l2, bool grad) {
  if (step != n.step) n = Sum{step, 0, 0, false};
  n.all_sq += l2 * l2;
  if (grad) {
    n.grad_sq += l2 * l2;
    n.has_grad = true;
  }
}

template <typename Sum>
double norm_of(const Sum &n) {
  return std::sqrt(n.has_grad ? n.grad_sq : n.all_sq);
}

// "every=1,budget=0.01,..." -> 0.01; -1 when absent.
double budget_of(const std::string &options) {
  size_t at = ("," + options).find(",budget=");
  if (at == std::string::npos) return -1;
  return std::strtod(options.c_str() + at + 7, nullptr);
}

}  // namespace

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
    const bool grad = t && t->kind == "grad";
    add_to_norm(m_norm, r.step, l2, grad);
    add_to_norm(m_rank_norms[r.rank], r.step, l2, grad);
    m_snapshot.latest_step = std::max(m_snapshot.latest_step, r.step);
    rank_snapshot &rs = m_snapshot.ranks[r.rank];
    if (r.step >= rs.latest_step) {
      rs.latest_step = r.step;
      rs.latest_time = std::max(rs.latest_time, r.time);
    }
  }
  if (m_norm.step >= 0) m_snapshot.global_grad_norm = norm_of(m_norm);
  for (const auto &[rank, n] : m_rank_norms) m_snapshot.ranks[rank].global_grad_norm = norm_of(n);

  std::vector<alert_row> alerts;
  if (!m_reader->alerts(&m_alert_cursor, &alerts))
    return m_error = m_reader->last_error(), false;
  for (const alert_row &a : alerts) {
    ++m_snapshot.alerts_total;
    ++m_snapshot.alerts_by_type[a.type];
    ++m_snapshot.ranks[a.rank].alerts_by_type[a.type];
    if (m_snapshot.first_alerts.size() < kFirstAlertsKept) m_snapshot.first_alerts.push_back(a);
    if (a.type == "nonfinite" && m_snapshot.first_nonfinite.step < 0)
      m_snapshot.first_nonfinite = a;
  }

  std::vector<action_row> actions;
  if (!m_reader->actions(&m_action_cursor, &actions))
    return m_error = m_reader->last_error(), false;
  for (const action_row &a : actions) {
    ++m_snapshot.actions_total;
    ++m_snapshot.actions_by_kind[a.action];
    if (a.action == "dump" && m_snapshot.dump_details.size() < kFirstAlertsKept)
      m_snapshot.dump_details.push_back(a.detail);
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
  s.device_seconds = total.device_seconds;
  std::map<int32_t, std::vector<run_counters_row>> by_rank;
  for (const run_counters_row &c : counters) by_rank[c.rank].push_back(c);
  for (const auto &[rank, rows] : by_rank) {
    const run_counters_row sum = sum_counters(rows);
    rank_snapshot &rs = s.ranks[rank];
    rs.samples_taken = sum.samples_taken;
    rs.samples_skipped = sum.samples_skipped;
    rs.records_dropped = sum.records_dropped;
    rs.overhead_seconds = sum.overhead_seconds;
    rs.step_seconds = sum.step_seconds;
    rs.device_seconds = sum.device_seconds;
  }

  // Hosts and budgets: the newest session of each rank.
  std::vector<run_session_info> sessions;
  if (!m_reader->sessions(&sessions)) return m_error = m_reader->last_error(), false;
  for (const run_session_info &info : sessions) {
    rank_snapshot &rs = s.ranks[info.rank];
    rs.host = info.host;
    rs.budget = budget_of(info.options);
  }
  std::vector<scalar_row> losses;
  if (!m_reader->latest_scalars("loss", &losses)) return m_error = m_reader->last_error(), false;
  for (const scalar_row &l : losses) {
    rank_snapshot &rs = s.ranks[l.rank];
    rs.has_loss = true;
    rs.loss = l.value.value_or(std::numeric_limits<double>::quiet_NaN());
  }
  return true;
}

}  // namespace ttap
