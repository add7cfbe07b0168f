// Folding a run's stored rows into the digest the report and watch views render: the small tables
// whole at every update, the samples after the last rowid folded, in bounded batches.
#include "tools/report/run_digest.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>

#include "runtime/store/store_files.h"

namespace ttap::report {

// Samples are read in batches of this many rows: a sample_row holds its decoded histogram inline
// (about 2.3 kB), so a million rows in one read would take gigabytes.
constexpr size_t kSampleBatchRows = 8192;

bool run_digest::update(run_reader &reader, std::string *error) {
  std::vector<run_session_info> sessions;
  std::vector<run_counters_row> counters;
  std::vector<tensor_row> tensors;
  std::vector<alert_row> alerts;
  std::vector<action_row> actions;
  std::vector<scalar_row> loss;
  std::vector<rank_total_row> ranks;
  // Tensors before samples, so a sample's kind is known when the step norms are summed.
  const bool ok = reader.refresh() && reader.sessions(&sessions) && reader.counters(&counters) &&
                  reader.tensors(&tensors) && reader.alerts(&m_alert_cursor, &alerts) &&
                  reader.actions(&m_action_cursor, &actions) &&
                  (!m_options.loss || reader.scalars(kLossScalar, &loss)) &&
                  reader.rank_totals(&ranks);
  if (!ok) {
    *error = reader.last_error();
    return false;
  }

  m_sessions = std::move(sessions);
  m_files = reader.files();
  m_counters = std::move(counters);
  m_ranks = std::move(ranks);
  auto group_member = [&](int32_t rank) {
    return std::any_of(m_sessions.begin(), m_sessions.end(), [&](const run_session_info &s) {
      return s.rank == rank && !s.group_kind.empty() && s.group_rank > 0;
    });
  };
  for (const tensor_row &row : tensors) {
    if (!m_tensor_index.count({row.rank, row.id}) && group_member(row.rank)) {
      m_unlisted[{row.rank, row.id}] = row;  // listed once it has a sample of its own
      continue;
    }
    tensor_digest &t = tensor_for(row.rank, row.id);
    t.name = row.name;
    t.kind = row.kind;
    t.dtype = row.dtype;
    t.numel = row.numel;
  }
  for (alert_row &a : alerts) {
    m_last_seen_time = std::max(m_last_seen_time, a.time);
    m_alerts.push_back(std::move(a));
  }
  for (action_row &a : actions) {
    m_last_seen_time = std::max(m_last_seen_time, a.time);
    m_actions.push_back(std::move(a));
  }
  if (m_options.loss) m_loss = std::move(loss);

  // Each batch is folded before the next is read; after a failure, the next update goes on after
  // the last row folded. Histograms are decoded for every row because the last sample of each
  // tensor is only known after the read.
  std::vector<sample_row> batch;
  do {
    if (!reader.samples(&m_sample_cursor, true, &batch, kSampleBatchRows)) {
      *error = reader.last_error();
      return false;
    }
    for (const sample_row &row : batch) add_sample(row);
  } while (!batch.empty());
  return true;
}

tensor_digest &run_digest::tensor_for(int32_t rank, int32_t id) {
  auto [it, added] = m_tensor_index.try_emplace({rank, id}, m_tensors.size());
  if (added) {
    m_tensors.emplace_back();
    m_tensors.back().rank = rank;
    m_tensors.back().id = id;
    m_tensors.back().session = session_ordinal_of_tensor(id);
    if (auto unlisted = m_unlisted.find({rank, id}); unlisted != m_unlisted.end()) {
      m_tensors.back().name = unlisted->second.name;
      m_tensors.back().kind = unlisted->second.kind;
      m_tensors.back().dtype = unlisted->second.dtype;
      m_tensors.back().numel = unlisted->second.numel;
      m_unlisted.erase(unlisted);
    }
  }
  return m_tensors[it->second];
}

void run_digest::add_sample(const sample_row &row) {
  m_last_seen_time = std::max(m_last_seen_time, row.time);
  m_latest_step = std::max(m_latest_step, row.step);
  ++m_sample_rows;

  tensor_digest &t = tensor_for(row.rank, row.tensor_id);
  // A sample of a tensor whose row is missing (never registered) still counts, under its own name.
  if (t.name.empty()) t.name = row.tensor;
  const double l2 = row.l2.value_or(0.0);
  const bool nonfinite = row.nonfinite() > 0;
  if (t.samples == 0) t.first_step = row.step;
  ++t.samples;
  t.last_step = row.step;
  t.last_l2 = l2;
  t.last_nonfinite = nonfinite;
  if (std::isfinite(l2) && (!t.max_l2 || l2 > *t.max_l2)) {
    t.max_l2 = l2;
    t.max_l2_step = row.step;
  }
  if (row.min) t.min = t.min ? std::min(*t.min, *row.min) : *row.min;
  if (row.max) t.max = t.max ? std::max(*t.max, *row.max) : *row.max;
  t.nonfinite_total += row.nonfinite();
  if (nonfinite && !t.first_nonfinite_step) t.first_nonfinite_step = row.step;

  uint64_t nonzero = 0;
  if (row.hist) {
    for (uint64_t c : *row.hist) nonzero += c;
  }
  if (nonzero) {
    t.e4m3 = fp8_risk_from_hist(row.hist->data(), -9, 8, 0);
    t.e5m2 = fp8_risk_from_hist(row.hist->data(), -16, 15, 0);
  } else {
    t.e4m3.reset();
    t.e5m2.reset();
  }

  t.history.push_back({row.step, l2, nonfinite});
  // The watch view keeps a short window; erasing at the front of a few dozen points is cheap.
  if (m_options.history_limit && t.history.size() > m_options.history_limit) {
    t.history.erase(t.history.begin(),
                    t.history.begin() + std::ptrdiff_t(t.history.size() - m_options.history_limit));
  }

  if (m_options.step_norms) {
    step_norm &n = m_step_norms[row.step];
    n.all_sum_sq += l2 * l2;
    n.all_nonfinite = n.all_nonfinite || nonfinite;
    if (t.kind == "grad") {
      n.has_grad = true;
      n.grad_sum_sq += l2 * l2;
      n.grad_nonfinite = n.grad_nonfinite || nonfinite;
    }
  }

  // In a multi-rank store the same name can come from several ranks: follow the first one seen.
  if (!m_options.hist_tensor.empty() && t.name == m_options.hist_tensor && row.hist &&
      (!m_hist_rank || *m_hist_rank == row.rank)) {
    m_hist_rank = row.rank;
    hist_column column;
    column.step = row.step;
    column.nonfinite = nonfinite;
    for (int i = 0; i < kExpHistBins; ++i) {
      if ((*row.hist)[size_t(i)] == 0) continue;
      column.bins.emplace_back(int16_t(i + kExpHistMin),
                               float(double((*row.hist)[size_t(i)]) / double(nonzero)));
    }
    m_hist_columns.push_back(std::move(column));
  }
}

double run_digest::first_time() const {
  double first = 0;
  for (const auto &s : m_sessions) {
    if (first == 0 || s.start_time < first) first = s.start_time;
  }
  return first;
}

double run_digest::last_time() const {
  double last = m_last_seen_time;
  for (const auto &c : m_counters) last = std::max(last, c.time);
  return last;
}

std::optional<size_t> run_digest::first_nonfinite_alert() const {
  for (size_t i = 0; i < m_alerts.size(); ++i) {
    if (m_alerts[i].type == "nonfinite") return i;
  }
  return std::nullopt;
}

std::vector<size_t> run_digest::alert_order() const {
  std::vector<size_t> order;
  const std::optional<size_t> first = first_nonfinite_alert();
  if (first) order.push_back(*first);
  for (size_t i = 0; i < m_alerts.size(); ++i) {
    if (i != first) order.push_back(i);
  }
  return order;
}

run_counters_row run_digest::counter_totals() const { return sum_counters(m_counters); }

run_facts facts_of(const run_digest &digest) {
  run_facts f;
  f.sessions = digest.sessions().size();
  for (const auto &s : digest.sessions()) {
    if (std::find(f.ranks.begin(), f.ranks.end(), s.rank) == f.ranks.end())
      f.ranks.push_back(s.rank);
    f.world = std::max(f.world, s.world);
  }
  std::sort(f.ranks.begin(), f.ranks.end());
  for (const auto &s : digest.sessions()) {
    if (s.group_kind.empty()) continue;
    f.group_kind = s.group_kind;
    f.group_size = s.group_size;
    if (s.group_rank == 0) f.group_writer = s.rank;
  }
  if (!digest.sessions().empty()) {
    // The latest session of the lowest rank (rank 0 in a multi-rank run): its host, options and
    // pid describe the run, whichever rank happened to register last.
    const run_session_info *latest = &digest.sessions().back();
    for (const auto &s : digest.sessions())
      if (s.rank == f.ranks.front()) latest = &s;
    f.host = latest->host;
    f.options = latest->options;
    f.version = latest->version;
    f.pid = latest->pid;
  }
  f.start_time = digest.first_time();
  f.end_time = std::max(f.start_time, digest.last_time());
  const run_counters_row totals = digest.counter_totals();
  if (totals.step_seconds > 0)
    f.overhead_fraction = (totals.overhead_seconds + totals.device_seconds) / totals.step_seconds;
  return f;
}

// Times and durations come from stores others may have written or damaged: any double, NaN and
// infinities included, is shown without converting an out-of-range value to an integer.
constexpr double kLargestShownSeconds = 1e15;  // ~32 million years: time_t, gmtime and int64 hold it

std::string format_utc(double epoch_seconds) {
  if (!(std::fabs(epoch_seconds) < kLargestShownSeconds)) return "(time out of range)";
  const time_t t = time_t(epoch_seconds);
  struct tm utc;
  if (!gmtime_r(&t, &utc)) return "(time out of range)";
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &utc);
  return buf;
}

std::string format_duration(double seconds) {
  char buf[64];
  if (!(seconds >= 0)) seconds = 0;
  if (seconds < 60) {
    std::snprintf(buf, sizeof buf, seconds < 10 ? "%.2f s" : "%.1f s", seconds);
  } else if (seconds < 3600) {
    const int64_t s = int64_t(seconds);
    std::snprintf(buf, sizeof buf, "%lld min %02lld s", (long long)(s / 60), (long long)(s % 60));
  } else if (seconds < kLargestShownSeconds) {
    const int64_t m = int64_t(seconds / 60);
    std::snprintf(buf, sizeof buf, "%lld h %02lld min", (long long)(m / 60), (long long)(m % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%.3g s", seconds);
  }
  return buf;
}

std::string default_hist_tensor(const std::vector<alert_row> &alerts,
                                const std::vector<tensor_row> &tensors) {
  auto is_tensor = [&](const std::string &name) {
    return std::any_of(tensors.begin(), tensors.end(),
                       [&](const tensor_row &t) { return t.name == name; });
  };
  // Alerts about a scalar (loss_spike) name no tensor, so they are passed over.
  for (const auto &a : alerts) {
    if (a.type == "nonfinite" && is_tensor(a.tensor)) return a.tensor;
  }
  for (const auto &a : alerts) {
    if (is_tensor(a.tensor)) return a.tensor;
  }
  const tensor_row *largest = nullptr;
  for (const auto &t : tensors) {
    if (!largest || t.numel > largest->numel) largest = &t;
  }
  return largest ? largest->name : "";
}

run_state state_of(const run_digest &digest) {
  bool live = false, open_left = false;
  for (const store_file_status &f : digest.files()) {
    if (f.live)
      live = true;
    else if (f.problem.empty() && f.version >= 3 && f.closed_sessions < f.sessions)
      open_left = true;
  }
  if (live) return run_state::live;
  return open_left ? run_state::not_closed : run_state::closed;
}

std::string state_text(const run_digest &digest) {
  switch (state_of(digest)) {
    case run_state::live:
      return "live (a writer is running)";
    case run_state::closed: {
      // Closed, but a writer could not fold its WAL in at close (a reader held it back).
      std::string unfolded;
      for (const store_file_status &f : digest.files())
        if (f.problem.empty() && f.version >= 3 && f.wal_bytes > 0)
          unfolded += (unfolded.empty() ? "" : ", ") + f.name + "-wal (" +
                      std::to_string(f.wal_bytes) + " bytes)";
      if (unfolded.empty()) return "closed";
      return "closed, not fully checkpointed: " + unfolded +
             " still holds part of the run; copy it with its database file (any writing sqlite3 "
             "connection, or `ttap run` when its program exits, folds it in)";
    }
    case run_state::not_closed:
      break;
  }
  std::string files;
  for (const store_file_status &f : digest.files())
    if (!f.live && f.problem.empty() && f.version >= 3 && f.closed_sessions < f.sessions)
      files += (files.empty() ? "" : ", ") + f.name;
  return "NOT CLOSED: " + files +
         " never closed (the process was killed or crashed, or its last write failed); what it "
         "committed is here, the rest is lost";
}

std::vector<run_gap> gaps_of(const run_digest &digest) {
  std::vector<run_gap> gaps;
  for (const store_file_status &f : digest.files())
    if (!f.problem.empty() && !f.live) gaps.push_back({f.rank, f.name + ": " + f.problem});
  std::map<int32_t, uint64_t> samples;
  for (const tensor_digest &t : digest.tensors()) samples[t.rank] += t.samples;
  for (run_gap &g : gaps_of(digest.sessions(), digest.counters(), samples))
    gaps.push_back(std::move(g));
  return gaps;
}

std::vector<run_gap> gaps_of(const std::vector<run_session_info> &sessions,
                             const std::vector<run_counters_row> &counters,
                             const std::map<int32_t, uint64_t> &samples) {
  std::vector<run_gap> gaps;
  std::map<int32_t, bool> has_session, group_member;
  int32_t world = 1;
  for (const run_session_info &s : sessions) {
    has_session[s.rank] = true;
    world = std::max(world, s.world);
    if (!s.group_kind.empty() && s.group_rank > 0) group_member[s.rank] = true;
  }
  if (world > 1) {
    for (int32_t r = 0; r < world; ++r) {
      const auto stored = samples.find(r);
      if (!has_session[r])
        gaps.push_back({r,
                        "no store file and no rows: the rank never opened a session here (or "
                        "its store could not be created)"});
      else if ((stored == samples.end() || stored->second == 0) && !group_member[r])
        gaps.push_back({r, "no samples stored"});
    }
  }
  std::map<int32_t, run_counters_row> per_rank;
  for (const run_counters_row &c : counters) {
    run_counters_row &p = per_rank[c.rank];
    p.rank = c.rank;
    p.records_dropped += c.records_dropped;
    p.records_lost += c.records_lost;
    p.store_failures += c.store_failures;
    p.samples_rejected += c.samples_rejected;
    if (p.first_store_failure.empty()) p.first_store_failure = c.first_store_failure;
  }
  for (const auto &[rank, c] : per_rank) {
    if (c.store_failures || c.records_lost) {
      std::string what = "the store failed " + std::to_string(c.store_failures) +
                         (c.store_failures == 1 ? " time" : " times") + ", " +
                         std::to_string(c.records_lost) + " records lost";
      if (!c.first_store_failure.empty()) what += " (first at " + c.first_store_failure + ")";
      gaps.push_back({rank, what});
    }
    if (c.records_dropped)
      gaps.push_back({rank, std::to_string(c.records_dropped) +
                                " records dropped (the collector's queue was full)"});
    if (c.samples_rejected)
      gaps.push_back({rank, std::to_string(c.samples_rejected) +
                                " samples rejected (steps that did not increase)"});
  }
  return gaps;
}

namespace {
// Each session's ordinal among its rank's sessions in its store file (session ids grow in a file).
std::vector<int> session_ordinals(const std::vector<run_session_info> &sessions) {
  std::map<std::pair<size_t, int32_t>, std::vector<int64_t>> ids;  // (file, rank) -> session ids
  for (const run_session_info &s : sessions) ids[{s.file, s.rank}].push_back(s.session);
  for (auto &[key, list] : ids) std::sort(list.begin(), list.end());
  std::vector<int> ordinals;
  for (const run_session_info &s : sessions) {
    const std::vector<int64_t> &list = ids[{s.file, s.rank}];
    ordinals.push_back(int(std::lower_bound(list.begin(), list.end(), s.session) - list.begin()) +
                       1);
  }
  return ordinals;
}
}  // namespace

std::vector<session_span> session_spans(const run_digest &digest) {
  const std::vector<run_session_info> &sessions = digest.sessions();
  const std::vector<int> ordinals = session_ordinals(sessions);
  std::map<int, session_span> spans;
  std::map<int, bool> all_closed;
  for (size_t i = 0; i < sessions.size(); ++i) {
    const run_session_info &s = sessions[i];
    auto [it, added] = spans.try_emplace(ordinals[i]);
    session_span &span = it->second;
    if (added) {
      span.ordinal = ordinals[i];
      span.start_time = s.start_time;
      all_closed[span.ordinal] = true;
    }
    span.start_time = std::min(span.start_time, s.start_time);
    if (s.end_time) span.end_time = std::max(span.end_time.value_or(*s.end_time), *s.end_time);
    all_closed[span.ordinal] = all_closed[span.ordinal] && s.end_time.has_value();
    if (std::find(span.ranks.begin(), span.ranks.end(), s.rank) == span.ranks.end())
      span.ranks.push_back(s.rank);
    if (std::find(span.pids.begin(), span.pids.end(), s.pid) == span.pids.end())
      span.pids.push_back(s.pid);
  }
  std::vector<session_span> out;
  for (auto &[ordinal, span] : spans) {
    if (!all_closed[ordinal]) span.end_time.reset();
    std::sort(span.ranks.begin(), span.ranks.end());
    out.push_back(std::move(span));
  }
  return out;
}

bool has_appended_sessions(const run_digest &digest) {
  for (int ordinal : session_ordinals(digest.sessions()))
    if (ordinal > 1) return true;
  return false;
}

std::vector<int> alert_sessions(const run_digest &digest) {
  const std::vector<run_session_info> &sessions = digest.sessions();
  const std::vector<int> ordinals = session_ordinals(sessions);
  // (file, rank) -> (start time, ordinal) in start order
  std::map<std::pair<size_t, int32_t>, std::vector<std::pair<double, int>>> starts;
  for (size_t i = 0; i < sessions.size(); ++i)
    starts[{sessions[i].file, sessions[i].rank}].push_back({sessions[i].start_time, ordinals[i]});
  for (auto &[key, list] : starts) std::sort(list.begin(), list.end());
  std::vector<int> out;
  out.reserve(digest.alerts().size());
  for (const alert_row &a : digest.alerts()) {
    int ordinal = 1;
    if (auto it = starts.find({a.file, a.rank}); it != starts.end()) {
      for (const auto &[start, o] : it->second)
        if (start <= a.time) ordinal = o;
    }
    out.push_back(ordinal);
  }
  return out;
}

std::vector<std::string> summarized_collectives(const run_digest &digest) {
  std::vector<std::string> names;
  for (const tensor_digest &t : digest.tensors()) {
    const bool hooked =
        t.kind == "collective" || t.name.rfind("mpi.", 0) == 0 || t.name.rfind("nccl.", 0) == 0 ||
        t.name.find("/mpi.") != std::string::npos || t.name.find("/nccl.") != std::string::npos;
    if (hooked && std::find(names.begin(), names.end(), t.name) == names.end())
      names.push_back(t.name);
  }
  return names;
}

}  // namespace ttap::report
