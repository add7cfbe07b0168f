// Comparing two runs: each store is read once (both at the same time, one per thread) into
// per-series step-sorted points, then every series both runs have is walked in step order against
// its twin. Values are compared with |b - a| <= atol + rtol * max(|a|, |b|); a hash of every stored
// summary field tells "identical to the bit" from "equal within the tolerance".
#include "tools/compare/run_diff.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <future>
#include <iterator>
#include <map>
#include <set>
#include <tuple>
#include <unordered_map>

#include "tools/report/run_digest.h"

namespace ttap::compare {
namespace {

// sample_values rows are read in batches of this many (about 70 bytes each).
constexpr size_t kBatchRows = 65536;

struct point {
  int64_t step = 0;
  double l2 = 0;
  std::optional<double> abs_max;
  uint64_t nonfinite = 0;
  std::optional<uint64_t> fingerprint;
  uint64_t summary_hash = 0;
  bool has_abs_max = true;  // false for a rank's part, which stores no abs_max
};

struct series {
  series_key key;
  std::string kind;
  std::vector<point> points;  // by step, one per step
};

struct scalar_series {
  std::vector<std::pair<int64_t, std::optional<double>>> points;  // by step
};

struct run_data {
  std::vector<series> all;  // in the run's watch order (rank, id), then parts
  std::map<series_key, size_t> index;
  std::vector<int64_t> steps;  // distinct sampled steps, ascending
  std::vector<alert_row> alerts;
  std::map<std::pair<std::string, int32_t>, scalar_series> scalars;
  std::vector<curve_point> grad_norm, loss;
};

size_t series_for(run_data *run, const series_key &key, const std::string &kind) {
  auto [it, added] = run->index.try_emplace(key, run->all.size());
  if (added) run->all.push_back({key, kind, {}});
  return it->second;
}

// Steps are increasing within a session; a resumed run (a second session) may repeat steps, and
// then the later sample of a step is the one kept.
void sort_points(std::vector<point> *points) {
  if (!std::is_sorted(points->begin(), points->end(),
                      [](const point &x, const point &y) { return x.step < y.step; }))
    std::stable_sort(points->begin(), points->end(),
                     [](const point &x, const point &y) { return x.step < y.step; });
  // In place: the later of two samples of one step is moved over the earlier.
  size_t kept = 0;
  for (size_t i = 0; i < points->size(); ++i) {
    if (kept > 0 && (*points)[kept - 1].step == (*points)[i].step) {
      (*points)[kept - 1] = (*points)[i];
    } else {
      (*points)[kept++] = (*points)[i];
    }
  }
  points->resize(kept);
}

bool read_run(run_reader &reader, run_data *run, std::string *error) {
  std::vector<tensor_row> tensors;
  std::vector<scalar_row> scalars;
  std::vector<rank_part_row> parts;
  if (!reader.tensors(&tensors) || !reader.alerts(nullptr, &run->alerts) ||
      !reader.scalars("", &scalars) || !reader.rank_parts(&parts)) {
    *error = reader.last_error();
    return false;
  }
  auto id_key = [](int32_t rank, int32_t id) {
    return (uint64_t(uint32_t(rank)) << 32) | uint32_t(id);
  };
  std::unordered_map<uint64_t, size_t> by_id;  // (rank, id) -> series
  std::unordered_map<uint64_t, const tensor_row *> rows;
  for (const tensor_row &t : tensors) rows[id_key(t.rank, t.id)] = &t;
  auto name_of = [&](int32_t rank, int32_t id) {
    auto row = rows.find(id_key(rank, id));
    // A sample of a tensor that was never registered keeps a name of its own.
    return row != rows.end() ? row->second->name
                             : "(unregistered tensor " + std::to_string(id) + ")";
  };
  auto sample_series = [&](int32_t rank, int32_t id) {
    const uint64_t k = id_key(rank, id);
    if (auto it = by_id.find(k); it != by_id.end()) return it->second;
    auto row = rows.find(k);
    const size_t s = series_for(run, {name_of(rank, id), rank, false},
                                row != rows.end() ? row->second->kind : "");
    by_id.emplace(k, s);
    return s;
  };

  // Registered tensors first, in (rank, id) order: the series follow the watch order rather
  // than the order of the first samples.
  for (const tensor_row &t : tensors) sample_series(t.rank, t.id);

  std::map<int64_t, std::pair<double, bool>> grad_sum_sq;  // step -> (sum of l2^2, any NaN/Inf)
  int64_t cached_step = INT64_MIN;
  std::pair<double, bool> *cached_norm = nullptr;
  std::vector<sample_values_row> batch;
  read_cursor cursor;
  do {
    if (!reader.sample_values(&cursor, kBatchRows, &batch)) {
      *error = reader.last_error();
      return false;
    }
    for (const sample_values_row &r : batch) {
      series &s = run->all[sample_series(r.rank, r.tensor_id)];
      s.points.push_back({r.step, r.l2, r.abs_max, r.nonfinite, r.fingerprint, r.summary_hash});
      if (s.kind != "grad") continue;
      // Rows come in step order, so the map is looked up once per step rather than per row.
      if (r.step != cached_step) {
        cached_norm = &grad_sum_sq[r.step];
        cached_step = r.step;
      }
      cached_norm->first += r.l2 * r.l2;
      cached_norm->second = cached_norm->second || r.nonfinite > 0;
    }
  } while (!batch.empty());

  for (const rank_part_row &p : parts) {
    auto row = rows.find(id_key(p.writer, p.tensor_id));
    series &s = run->all[series_for(run, {name_of(p.writer, p.tensor_id), p.rank, true},
                                    row != rows.end() ? row->second->kind : "")];
    point pt;
    pt.step = p.step;
    pt.l2 = p.l2.value_or(0.0);
    pt.nonfinite = p.nonfinite;
    pt.fingerprint = p.fingerprint;
    pt.has_abs_max = false;
    s.points.push_back(pt);
  }

  // Tensors registered but never sampled (in a group, the other ranks' registrations: rank 0
  // stores their samples merged) have nothing to compare.
  std::erase_if(run->all, [](const series &s) { return s.points.empty(); });
  run->index.clear();
  for (size_t i = 0; i < run->all.size(); ++i) run->index.emplace(run->all[i].key, i);

  std::vector<int64_t> steps;
  for (series &s : run->all) {
    sort_points(&s.points);
    if (s.key.part) continue;
    // A union of sorted lists, one series at a time (most series share their steps).
    std::vector<int64_t> own, merged;
    own.reserve(s.points.size());
    for (const point &p : s.points) own.push_back(p.step);
    if (std::includes(steps.begin(), steps.end(), own.begin(), own.end())) continue;
    std::set_union(steps.begin(), steps.end(), own.begin(), own.end(), std::back_inserter(merged));
    steps = std::move(merged);
  }
  run->steps = std::move(steps);

  // With a NaN or Inf among the gradients the global norm is not a number (what clipping sees).
  for (const auto &[step, norm] : grad_sum_sq)
    run->grad_norm.push_back(
        {step, norm.second ? std::nullopt : std::optional<double>(std::sqrt(norm.first))});
  std::optional<int32_t> loss_rank;
  for (const scalar_row &s : scalars) {
    run->scalars[{s.name, s.rank}].points.emplace_back(s.step, s.value);
    if (s.name == report::kLossScalar && (!loss_rank || s.rank < *loss_rank)) loss_rank = s.rank;
  }
  for (auto &[key, sc] : run->scalars) {
    std::stable_sort(sc.points.begin(), sc.points.end(),
                     [](const auto &x, const auto &y) { return x.first < y.first; });
    if (key.first == report::kLossScalar && key.second == loss_rank) {
      for (const auto &[step, value] : sc.points) run->loss.push_back({step, value});
    }
  }
  return true;
}

bool beyond(double a, double b, const diff_options &o) {
  if (a == b || (std::isnan(a) && std::isnan(b))) return false;
  return !(std::abs(b - a) <= o.atol + o.rtol * std::max(std::abs(a), std::abs(b)));
}

bool beyond(const std::optional<double> &a, const std::optional<double> &b, const diff_options &o) {
  if (!a || !b) return a.has_value() != b.has_value();
  return beyond(*a, *b, o);
}

double relative(double a, double b) {
  if (a == b) return 0;
  const double m = std::max(std::abs(a), std::abs(b));
  return m > 0 ? std::abs(b - a) / m : 0;
}

bool same_bits(const std::optional<double> &a, const std::optional<double> &b) {
  if (!a || !b) return a.has_value() == b.has_value();
  return std::memcmp(&*a, &*b, sizeof(double)) == 0;
}

// The first field of one common step that is beyond the tolerance.
std::optional<value_difference> step_difference(const point &a, const point &b,
                                                const diff_options &o) {
  if (beyond(a.l2, b.l2, o)) return value_difference{a.step, "l2", a.l2, b.l2};
  if (a.has_abs_max && b.has_abs_max && beyond(a.abs_max, b.abs_max, o))
    return value_difference{a.step, "abs_max", a.abs_max, b.abs_max};
  if (beyond(double(a.nonfinite), double(b.nonfinite), o))
    return value_difference{a.step, "nonfinite", double(a.nonfinite), double(b.nonfinite)};
  return std::nullopt;
}

tensor_diff compare_series(const series &a, const series &b, const diff_options &o) {
  tensor_diff d;
  d.key = a.key;
  d.kind = a.kind.empty() ? b.kind : a.kind;
  d.steps_a = a.points.size();
  d.steps_b = b.points.size();
  size_t i = 0, j = 0;
  while (i < a.points.size() && j < b.points.size()) {
    const point &pa = a.points[i], &pb = b.points[j];
    if (pa.step < pb.step) {
      ++i;
      continue;
    }
    if (pb.step < pa.step) {
      ++j;
      continue;
    }
    ++d.common_steps;
    d.last_common_step = pa.step;
    d.l2_a = pa.l2;
    d.l2_b = pb.l2;
    d.max_rel_diff = std::max(d.max_rel_diff, relative(pa.l2, pb.l2));
    if (pa.abs_max && pb.abs_max)
      d.max_rel_diff = std::max(d.max_rel_diff, relative(*pa.abs_max, *pb.abs_max));
    if (!d.first_beyond) d.first_beyond = step_difference(pa, pb, o);
    if (pa.fingerprint && pb.fingerprint) {
      ++d.fingerprints_compared;
      if (*pa.fingerprint != *pb.fingerprint && !d.first_fingerprint_diff)
        d.first_fingerprint_diff = pa.step;
    }
    // A rank's part stores no summary to hash: its l2, count and fingerprint stand for it.
    const bool same = pa.has_abs_max ? pa.summary_hash == pb.summary_hash
                                     : same_bits(pa.l2, pb.l2) && pa.nonfinite == pb.nonfinite &&
                                           pa.fingerprint == pb.fingerprint;
    d.summaries_identical = d.summaries_identical && same;
    ++i;
    ++j;
  }
  return d;
}

scalar_diff compare_scalars(const std::string &name, int32_t rank, const scalar_series &a,
                            const scalar_series &b, const diff_options &o) {
  scalar_diff d;
  d.name = name;
  d.rank = rank;
  d.steps_a = a.points.size();
  d.steps_b = b.points.size();
  size_t i = 0, j = 0;
  while (i < a.points.size() && j < b.points.size()) {
    const auto &[sa, va] = a.points[i];
    const auto &[sb, vb] = b.points[j];
    if (sa != sb) {
      sa < sb ? ++i : ++j;
      continue;
    }
    ++d.common_steps;
    d.last_common_step = sa;
    d.last_a = va;
    d.last_b = vb;
    if (va && vb) d.max_rel_diff = std::max(d.max_rel_diff, relative(*va, *vb));
    if (!d.first_beyond && beyond(va, vb, o))
      d.first_beyond = value_difference{sa, "value", va, vb};
    d.identical = d.identical && same_bits(va, vb);
    ++i;
    ++j;
  }
  return d;
}

std::vector<curve_point> l2_curve(const series &s) {
  std::vector<curve_point> out;
  out.reserve(s.points.size());
  for (const point &p : s.points) out.push_back({p.step, p.l2});
  return out;
}

// Alerts of the two runs that the other run lacks, matched by (rank, type, tensor, step) and
// counted (a run may raise the same alert twice). Only alerts at steps both runs sampled are
// compared: an alert at a step one run never sampled says nothing about the other.
void unmatched_alerts(const run_data &a, const run_data &b, const std::vector<int64_t> &common,
                      run_diff *out) {
  using key = std::tuple<int32_t, std::string, std::string, int64_t>;
  auto comparable = [&](const alert_row &x) {
    return std::binary_search(common.begin(), common.end(), x.step);
  };
  std::multiset<key> in_b;
  for (const alert_row &x : b.alerts)
    if (comparable(x)) in_b.insert({x.rank, x.type, x.tensor, x.step});
  std::multiset<key> in_a;
  for (const alert_row &x : a.alerts) {
    if (!comparable(x)) continue;
    const key k{x.rank, x.type, x.tensor, x.step};
    in_a.insert(k);
    if (auto it = in_b.find(k); it != in_b.end()) {
      in_b.erase(it);
    } else {
      out->alerts_only_a.push_back(x);
    }
  }
  for (const alert_row &x : b.alerts) {
    if (!comparable(x)) continue;
    const key k{x.rank, x.type, x.tensor, x.step};
    if (auto it = in_a.find(k); it != in_a.end()) {
      in_a.erase(it);
    } else {
      out->alerts_only_b.push_back(x);
    }
  }
}

run_side side_of(const std::string &dir, run_data &run) {
  run_side s;
  s.dir = dir;
  s.steps = run.steps.size();
  if (!run.steps.empty()) {
    s.first_step = run.steps.front();
    s.last_step = run.steps.back();
  }
  s.tensors = run.all.size();
  s.grad_norm = std::move(run.grad_norm);
  s.loss = std::move(run.loss);
  return s;
}

}  // namespace

bool timing_alert(const std::string &type) { return type == "straggler"; }

std::optional<double> ratio(double a, double b) {
  if (a == 0) return b == 0 ? std::optional<double>(1.0) : std::nullopt;
  return b / a;
}

bool run_diff::equal() const {
  if (first || !only_a.empty() || !only_b.empty() || !scalars_only_a.empty() ||
      !scalars_only_b.empty())
    return false;
  for (const scalar_diff &s : scalars)
    if (s.first_beyond) return false;
  for (const auto *alerts : {&alerts_only_a, &alerts_only_b})
    for (const alert_row &x : *alerts)
      if (!timing_alert(x.type)) return false;
  // Two runs that both sampled but never the same step cannot be called equal.
  return common_steps > 0 || (a.steps == 0 && b.steps == 0);
}

bool run_diff::identical() const {
  return equal() && summaries_identical && !first_fingerprint_diff;
}

bool diff_runs(run_reader &a, run_reader &b, const diff_options &options, run_diff *out,
               std::string *error) {
  run_data data_a, data_b;
  std::string error_b;
  // The two stores are read at the same time: each has its own connection, and reading is most
  // of the work.
  auto reading_b = std::async(std::launch::async, [&] { return read_run(b, &data_b, &error_b); });
  const bool ok_a = read_run(a, &data_a, error);
  const bool ok_b = reading_b.get();
  if (!ok_a) return false;
  if (!ok_b) {
    *error = error_b;
    return false;
  }

  run_diff &d = *out;
  d = run_diff();
  d.options = options;
  std::vector<int64_t> common;
  std::set_intersection(data_a.steps.begin(), data_a.steps.end(), data_b.steps.begin(),
                        data_b.steps.end(), std::back_inserter(common));
  d.common_steps = common.size();
  if (!common.empty()) d.last_common_step = common.back();

  // Order: run A's series, then those only B has.
  std::vector<std::pair<size_t, size_t>> pairs;  // (series in A, in B)
  for (size_t i = 0; i < data_a.all.size(); ++i) {
    auto it = data_b.index.find(data_a.all[i].key);
    if (it == data_b.index.end()) {
      d.only_a.push_back(data_a.all[i].key);
    } else {
      pairs.emplace_back(i, it->second);
    }
  }
  for (const series &s : data_b.all)
    if (!data_a.index.count(s.key)) d.only_b.push_back(s.key);

  for (const auto &[ia, ib] : pairs) {
    tensor_diff t = compare_series(data_a.all[ia], data_b.all[ib], options);
    d.summaries_identical = d.summaries_identical && t.summaries_identical;
    d.fingerprints_compared += t.fingerprints_compared;
    if (t.first_beyond && (!d.first || t.first_beyond->step < d.first->step)) {
      d.first = t.first_beyond;
      d.first_tensor = t.key;
    }
    if (t.first_fingerprint_diff &&
        (!d.first_fingerprint_diff || *t.first_fingerprint_diff < d.first_fingerprint_diff->step)) {
      d.first_fingerprint_diff = value_difference{*t.first_fingerprint_diff, "fingerprint", {}, {}};
      d.first_fingerprint_tensor = t.key;
    }
    d.tensors.push_back(std::move(t));
  }
  if (d.fingerprints_compared && !d.first_fingerprint_diff) {
    for (const tensor_diff &t : d.tensors)
      if (t.fingerprints_compared && t.last_common_step)
        d.fingerprints_identical_through =
            std::max(d.fingerprints_identical_through.value_or(INT64_MIN), *t.last_common_step);
  }

  for (const auto &[key, sa] : data_a.scalars) {
    auto it = data_b.scalars.find(key);
    if (it == data_b.scalars.end()) {
      d.scalars_only_a.push_back(key);
      continue;
    }
    scalar_diff s = compare_scalars(key.first, key.second, sa, it->second, options);
    d.summaries_identical = d.summaries_identical && s.identical;
    d.scalars.push_back(std::move(s));
  }
  for (const auto &[key, sb] : data_b.scalars)
    if (!data_a.scalars.count(key)) d.scalars_only_b.push_back(key);

  unmatched_alerts(data_a, data_b, common, &d);

  // The curves of the tensors that part first, for the HTML overlays.
  std::vector<size_t> parting;
  for (size_t k = 0; k < d.tensors.size(); ++k)
    if (d.tensors[k].first_beyond) parting.push_back(k);
  std::stable_sort(parting.begin(), parting.end(), [&](size_t x, size_t y) {
    return d.tensors[x].first_beyond->step < d.tensors[y].first_beyond->step;
  });
  for (size_t k = 0; k < parting.size() && k < options.overlay_tensors; ++k) {
    const auto &[ia, ib] = pairs[parting[k]];
    d.diverging.push_back(
        {d.tensors[parting[k]].key, l2_curve(data_a.all[ia]), l2_curve(data_b.all[ib])});
  }

  d.a = side_of(a.dir(), data_a);
  d.b = side_of(b.dir(), data_b);
  return true;
}

}  // namespace ttap::compare
