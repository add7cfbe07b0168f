// The JSON form of `ttap report`: the same digest the text and HTML forms render, so the three
// cannot disagree. JSON has no NaN or Inf, so every double goes through one null-making helper.
#include "tools/report/report_json.h"

#include <cmath>

#include "runtime/store/row_json.h"

namespace ttap::report {
namespace {

using ordered_json = nlohmann::ordered_json;

ordered_json risk_json(const std::optional<fp8_risk> &risk) {
  if (!risk) return ordered_json();
  return {{"underflow", json_number(risk->underflow)}, {"overflow", json_number(risk->overflow)}};
}

ordered_json tensor_json(const tensor_digest &t) {
  const bool sampled = t.samples > 0;
  ordered_json j;
  j["name"] = t.name;
  j["rank"] = t.rank;
  j["session"] = t.session;
  j["kind"] = t.kind;
  j["dtype"] = t.dtype;
  j["numel"] = t.numel;
  j["samples"] = t.samples;
  j["first_step"] = sampled ? ordered_json(t.first_step) : ordered_json();
  j["last_step"] = sampled ? ordered_json(t.last_step) : ordered_json();
  j["last_l2"] = sampled ? json_number(t.last_l2) : ordered_json();
  j["last_nonfinite"] = sampled ? ordered_json(t.last_nonfinite) : ordered_json();
  j["max_l2"] = json_number(t.max_l2);
  j["max_l2_step"] = t.max_l2 ? ordered_json(t.max_l2_step) : ordered_json();
  j["min"] = json_number(t.min);
  j["max"] = json_number(t.max);
  j["nonfinite_total"] = t.nonfinite_total;
  j["first_nonfinite_step"] =
      t.first_nonfinite_step ? ordered_json(*t.first_nonfinite_step) : ordered_json();
  j["fp8"] = {{"e4m3", risk_json(t.e4m3)}, {"e5m2", risk_json(t.e5m2)}};
  return j;
}

}  // namespace

ordered_json report_json(const run_digest &digest, const std::string &run_dir) {
  const run_facts facts = facts_of(digest);
  ordered_json run;
  run["dir"] = run_dir;
  run["ranks"] = facts.ranks;
  run["world"] = facts.world;
  run["sessions"] = facts.sessions;
  // By ordinal (1: each rank's first session; 2, ...: added with mode=append); tensors and alerts
  // name theirs.
  ordered_json spans = ordered_json::array();
  for (const session_span &s : session_spans(digest)) {
    spans.push_back({{"session", s.ordinal},
                     {"start_time", json_number(s.start_time)},
                     {"start_time_utc", format_utc(s.start_time)},
                     {"end_time", json_number(s.end_time)},
                     {"closed", s.end_time.has_value()},
                     {"ranks", s.ranks},
                     {"pids", s.pids}});
  }
  run["session_list"] = std::move(spans);
  run["host"] = facts.host;
  run["pid"] = facts.pid;
  run["options"] = facts.options;
  run["version"] = facts.version;
  run["start_time"] = json_number(facts.start_time);
  run["state"] = state_of(digest) == run_state::closed ? "closed"
                 : state_of(digest) == run_state::live ? "live"
                                                       : "not_closed";
  ordered_json gaps = ordered_json::array();
  for (const run_gap &g : gaps_of(digest))
    gaps.push_back(
        {{"rank", g.rank >= 0 ? ordered_json(g.rank) : ordered_json()}, {"what", g.what}});
  run["gaps"] = gaps;
  run["collectives"] = summarized_collectives(digest);
  run["start_time_utc"] =
      facts.sessions ? ordered_json(format_utc(facts.start_time)) : ordered_json();
  run["end_time"] = json_number(facts.end_time);
  run["duration_s"] = json_number(facts.end_time - facts.start_time);
  run["latest_step"] =
      digest.latest_step() >= 0 ? ordered_json(digest.latest_step()) : ordered_json();
  run["sample_rows"] = digest.sample_rows();
  ordered_json first_nonfinite;
  if (auto i = digest.first_nonfinite_alert()) {
    const alert_row &a = digest.alerts()[*i];
    first_nonfinite = {{"step", a.step}, {"rank", a.rank}, {"tensor", a.tensor}};
  }
  run["first_nonfinite"] = std::move(first_nonfinite);
  ordered_json group;
  if (!facts.group_kind.empty()) {
    group = {{"kind", facts.group_kind},
             {"size", facts.group_size},
             {"writer", facts.group_writer ? ordered_json(*facts.group_writer) : ordered_json()}};
  }
  run["group"] = std::move(group);

  ordered_json alerts = ordered_json::array();
  const std::vector<int> alert_session = alert_sessions(digest);
  for (size_t i = 0; i < digest.alerts().size(); ++i) {
    const alert_row &a = digest.alerts()[i];
    alerts.push_back({{"step", a.step},
                      {"rank", a.rank},
                      {"session", alert_session[i]},
                      {"time", json_number(a.time)},
                      {"tensor", a.tensor},
                      {"type", a.type},
                      {"message", a.message}});
  }

  ordered_json actions = ordered_json::array();
  for (const action_row &a : digest.actions()) {
    actions.push_back({{"step", a.step},
                       {"rank", a.rank},
                       {"time", json_number(a.time)},
                       {"action", a.action},
                       {"reason", a.reason},
                       {"detail", a.detail}});
  }

  ordered_json tensors = ordered_json::array();
  for (const tensor_digest &t : digest.tensors()) tensors.push_back(tensor_json(t));

  ordered_json ranks = ordered_json::array();
  for (const rank_total_row &r : digest.ranks()) {
    ordered_json group_alerts = ordered_json::array();
    for (const alert_row &a : digest.alerts()) {
      if (a.rank == r.rank && (a.type == "nonfinite_source" || a.type == "divergence" ||
                               a.type == "outlier_rank" || a.type == "straggler"))
        group_alerts.push_back({{"step", a.step}, {"type", a.type}, {"tensor", a.tensor}});
    }
    ranks.push_back({{"rank", r.rank},
                     {"samples", r.samples},
                     {"absent", r.absent},
                     {"step_seconds", json_number(r.step_seconds)},
                     {"last_grad_l2", json_number(r.last_grad_l2)},
                     {"nonfinite", r.nonfinite},
                     {"group_alerts", std::move(group_alerts)}});
  }

  const run_counters_row c = digest.counter_totals();
  ordered_json overhead;
  overhead["seconds"] = json_number(c.overhead_seconds + c.device_seconds);
  overhead["host_seconds"] = json_number(c.overhead_seconds);
  overhead["device_seconds"] = json_number(c.device_seconds);
  overhead["step_seconds"] = json_number(c.step_seconds);
  overhead["fraction"] = json_number(facts.overhead_fraction);
  overhead["samples_taken"] = c.samples_taken;
  overhead["samples_skipped"] = c.samples_skipped;
  overhead["records_dropped"] = c.records_dropped;
  overhead["samples_rejected"] = c.samples_rejected;
  overhead["alerts_suppressed"] = c.alerts_suppressed;

  ordered_json j;
  j["run"] = std::move(run);
  j["alerts"] = std::move(alerts);
  j["actions"] = std::move(actions);
  j["tensors"] = std::move(tensors);
  j["ranks"] = std::move(ranks);
  j["overhead"] = std::move(overhead);
  return j;
}

}  // namespace ttap::report
