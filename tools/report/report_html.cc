// The HTML report page: sections around the SVG plots, tables rendered from the same digest as the
// text and JSON forms, and a small closing script that checks the plots rendered (what the
// headless-browser test reads back). Everything is inline so the file can be mailed or archived.
#include "tools/report/report_html.h"

#include <cmath>
#include <cstdio>

#include "tools/report/html_page.h"

namespace ttap::report {
namespace {

// The report's own rules, after the pages' common stylesheet (html_page.h).
constexpr const char *kStyle = R"(
tbody tr:nth-child(even) { background: #fafafa; }
td.message { text-align: left; white-space: normal; }
svg text.bad { fill: #e4002b; font-weight: 600; }
svg .series { fill: none; stroke: #1f4e9c; stroke-width: 1.5; }
svg .alert { stroke-width: 1; stroke-dasharray: 3 2; opacity: 0.8; }
svg .fp8 { stroke: #e4002b; stroke-width: 1.5; stroke-dasharray: 5 3; }
)";

std::string esc(const std::string &s) { return html_escape(s); }

std::string value_or_dash(const std::optional<double> &v) { return v ? label_number(*v) : "-"; }

std::string percent(double fraction) {
  if (!(fraction > 0)) return "0";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", fraction * 100);
  return buf;
}

std::string fp8_text(const std::optional<fp8_risk> &risk) {
  return risk ? percent(risk->underflow) + "/" + percent(risk->overflow) : "-";
}

void add_fact(std::string *out, const std::string &key, const std::string &value_html) {
  *out += "<tr><th>" + esc(key) + "</th><td>" + value_html + "</td></tr>\n";
}

std::string facts_section(const run_digest &digest, const html_options &options) {
  const run_facts f = facts_of(digest);
  std::string out = "<table class=\"facts\">\n";
  add_fact(&out, "run", "<code>" + esc(options.run_dir) + "</code>");
  std::string ranks;
  for (size_t i = 0; i < f.ranks.size(); ++i) ranks += (i ? ", " : "") + std::to_string(f.ranks[i]);
  add_fact(&out, "ranks",
           esc(ranks.empty() ? "-" : ranks) + " (world " + std::to_string(f.world) + ")");
  if (!f.group_kind.empty()) {
    add_fact(&out, "group",
             esc(f.group_kind) + ", " + std::to_string(f.group_size) + " ranks" +
                 (f.group_writer ? "; rank " + std::to_string(*f.group_writer) +
                                       " stored the merged samples and the per-rank rows"
                                 : ""));
  }
  add_fact(&out, "sessions", std::to_string(f.sessions));
  if (f.sessions) {
    add_fact(&out, "started", esc(format_utc(f.start_time)));
    add_fact(&out, "duration", esc(format_duration(f.end_time - f.start_time)));
  }
  add_fact(&out, "host", esc(f.host) + (f.pid ? " (pid " + std::to_string(f.pid) + ")" : ""));
  add_fact(&out, "options", "<code>" + esc(f.options.empty() ? "-" : f.options) + "</code>");
  add_fact(&out, "version", esc(f.version));
  const run_state state = state_of(digest);
  add_fact(&out, "state",
           state == run_state::not_closed
               ? "<span class=\"bad\">" + esc(state_text(digest)) + "</span>"
               : esc(state_text(digest)));
  add_fact(&out, "latest step",
           digest.latest_step() >= 0 ? std::to_string(digest.latest_step()) : "-");
  add_fact(&out, "samples stored",
           std::to_string(digest.sample_rows()) + " rows over " +
               std::to_string(digest.tensors().size()) + " tensors");
  return out + "</table>\n";
}

std::string callout(const run_digest &digest) {
  if (digest.sample_rows() == 0) {
    return "<p class=\"callout ok\">No samples yet: the run has not stored a sample (it may have "
           "just started).</p>\n";
  }
  if (auto i = digest.first_nonfinite_alert()) {
    const alert_row &a = digest.alerts()[*i];
    return "<p class=\"callout\">First non-finite value: <b>step " + std::to_string(a.step) +
           "</b>, tensor <code>" + esc(a.tensor) + "</code> (rank " + std::to_string(a.rank) +
           "): " + esc(a.message) + "</p>\n";
  }
  if (digest.alerts().empty()) return "<p class=\"callout ok\">No alerts.</p>\n";
  return "<p class=\"callout\">" + std::to_string(digest.alerts().size()) +
         " alerts, none non-finite; see the table below.</p>\n";
}

// Per rank, what the run is missing (the text form's gap lines): said near the top, since every
// figure below is read off what was stored.
std::string gaps_section(const run_digest &digest) {
  std::string out = "<h2 id=\"gaps\">What is missing</h2>\n";
  const std::vector<run_gap> gaps = gaps_of(digest);
  if (gaps.empty()) {
    return out +
           "<p id=\"ttap-no-gaps\">Nothing: every rank of the run stored its rows, no store "
           "failed and no record was dropped.</p>\n";
  }
  out +=
      "<p class=\"note\">Ranks with no store file or no samples, store failures (how often, "
      "the first one, records lost), records dropped by a full queue, samples rejected.</p>\n"
      "<table id=\"ttap-gaps\">\n<thead><tr><th>rank</th><th class=\"text\">what</th></tr>"
      "</thead>\n<tbody>\n";
  for (const run_gap &g : gaps) {
    out += "<tr class=\"bad\"><td>" + (g.rank >= 0 ? std::to_string(g.rank) : "-") +
           "</td><td class=\"message\">" + esc(g.what) + "</td></tr>\n";
  }
  return out + "</tbody>\n</table>\n";
}

// A run continued with mode=append: its sessions, which the alert and tensor tables name.
std::string sessions_section(const run_digest &digest) {
  if (!has_appended_sessions(digest)) return "";
  std::string out =
      "<h2 id=\"sessions\">Sessions</h2>\n<p class=\"note\">This run was continued with "
      "<code>mode=append</code>: each rank's first session is 1, the later ones 2, 3, ...; the "
      "alert and tensor tables name the session of each row.</p>\n<table id=\"ttap-sessions\">"
      "\n<thead><tr><th>session</th><th class=\"text\">started</th><th>duration</th>"
      "<th class=\"text\">ranks</th><th class=\"text\">pids</th></tr></thead>\n<tbody>\n";
  for (const session_span &s : session_spans(digest)) {
    std::string ranks, pids;
    for (size_t i = 0; i < s.ranks.size(); ++i)
      ranks += (i ? ", " : "") + std::to_string(s.ranks[i]);
    for (size_t i = 0; i < s.pids.size(); ++i) pids += (i ? ", " : "") + std::to_string(s.pids[i]);
    out += "<tr><td>" + std::to_string(s.ordinal) + "</td><td class=\"text\">" +
           esc(format_utc(s.start_time)) + "</td><td" + (s.end_time ? "" : " class=\"bad\"") + ">" +
           esc(s.end_time ? format_duration(*s.end_time - s.start_time) : "not closed") +
           "</td><td class=\"text\">" + ranks + "</td><td class=\"text\">" + pids + "</td></tr>\n";
  }
  return out + "</tbody>\n</table>\n";
}

std::string plot_block(const svg_plot &plot) {
  std::string out = plot.svg;
  if (!plot.note.empty()) out += "<p class=\"note\">" + esc(plot.note) + "</p>\n";
  return out;
}

std::string alerts_section(const run_digest &digest, const html_options &options) {
  std::string out = "<h2 id=\"alerts\">Alerts</h2>\n";
  if (digest.alerts().empty()) return out + "<p>No alerts.</p>\n";
  out +=
      "<p class=\"note\">The first non-finite alert first, then every alert in time order.</p>\n"
      "<table id=\"ttap-alerts\">\n<thead><tr><th>step</th><th>rank</th>";
  const bool by_session = has_appended_sessions(digest);
  if (by_session) out += "<th>session</th>";
  out +=
      "<th class=\"text\">type</th><th class=\"text\">tensor</th><th class=\"text\">message"
      "</th></tr></thead>\n<tbody>\n";
  const std::vector<int> sessions = by_session ? alert_sessions(digest) : std::vector<int>();
  const std::vector<size_t> order = digest.alert_order();
  size_t shown = 0;
  for (size_t i : order) {
    if (shown++ == options.max_alert_rows) break;
    const alert_row &a = digest.alerts()[i];
    const bool bad =
        a.type == "nonfinite" || a.type == "nonfinite_source" || a.type == "divergence";
    out += "<tr" + std::string(bad ? " class=\"bad\"" : "") + "><td>" + std::to_string(a.step) +
           "</td><td>" + std::to_string(a.rank) +
           (by_session ? "</td><td>" + std::to_string(sessions[i]) : std::string()) +
           "</td><td class=\"text\">" + esc(a.type) + "</td><td class=\"text name\">" +
           esc(a.tensor) + "</td><td class=\"message\">" + esc(a.message) + "</td></tr>\n";
  }
  out += "</tbody>\n</table>\n";
  if (order.size() > options.max_alert_rows) {
    out += "<p class=\"note\">" + std::to_string(order.size() - options.max_alert_rows) +
           " more alerts not shown; <code>ttap report --format json</code> lists them all.</p>\n";
  }
  return out;
}

// What the response policies did, under the alerts (absent when they did nothing).
std::string actions_section(const run_digest &digest) {
  if (digest.actions().empty()) return "";
  std::string out =
      "<h2 id=\"actions\">Actions</h2>\n<p class=\"note\">What the response policies "
      "(<code>on_nonfinite</code>, <code>on_spike</code>) did, in time order.</p>\n"
      "<table id=\"ttap-actions\">\n<thead><tr><th>step</th><th>rank</th><th class=\"text\">"
      "action</th><th class=\"text\">reason</th><th class=\"text\">detail</th></tr></thead>"
      "\n<tbody>\n";
  for (const action_row &a : digest.actions()) {
    out += "<tr><td>" + std::to_string(a.step) + "</td><td>" + std::to_string(a.rank) +
           "</td><td class=\"text\">" + esc(a.action) + "</td><td class=\"text\">" + esc(a.reason) +
           "</td><td class=\"message\">" + esc(a.detail) + "</td></tr>\n";
  }
  return out + "</tbody>\n</table>\n";
}

std::string tensors_section(const run_digest &digest, const html_options &options) {
  std::string out = "<h2 id=\"tensors\">Tensors</h2>\n";
  if (digest.tensors().empty()) return out + "<p>No tensors yet.</p>\n";
  out +=
      "<p class=\"note\">l2 over finite values (red: the sample held NaN/Inf); min and max over "
      "every sample's finite values; fp8 risks (underflow/overflow, % of finite nonzero values, "
      "unscaled cast) from the last sample.</p>\n"
      "<table id=\"ttap-tensors\">\n<thead><tr><th class=\"text\">name</th><th "
      "class=\"text\">kind</th><th class=\"text\">dtype</th><th>rank</th>";
  const bool by_session = has_appended_sessions(digest);
  if (by_session) out += "<th>session</th>";
  out +=
      "<th>numel</th><th>samples</th><th>steps</th><th>last l2</th><th>max l2</th><th>at step"
      "</th><th>min</th><th>max</th><th>NaN/Inf</th><th>e4m3 u/o %</th><th>e5m2 u/o %</th></tr>"
      "</thead>\n<tbody>\n";
  size_t shown = 0;
  for (const tensor_digest &t : digest.tensors()) {
    if (shown++ == options.max_tensor_rows) break;
    const bool sampled = t.samples > 0;
    out +=
        "<tr><td class=\"text name\">" + esc(t.name) + "</td><td class=\"text\">" + esc(t.kind) +
        "</td><td class=\"text\">" + esc(t.dtype) + "</td><td>" + std::to_string(t.rank) +
        (by_session ? "</td><td>" + std::to_string(t.session) : std::string()) + "</td><td>" +
        std::to_string(t.numel) + "</td><td>" + std::to_string(t.samples) + "</td><td>" +
        (sampled ? std::to_string(t.first_step) + "&ndash;" + std::to_string(t.last_step) : "-") +
        "</td><td>" + (sampled ? label_number(t.last_l2) : "-") + "</td><td>" +
        value_or_dash(t.max_l2) + "</td><td>" + (t.max_l2 ? std::to_string(t.max_l2_step) : "-") +
        "</td><td>" + value_or_dash(t.min) + "</td><td>" + value_or_dash(t.max) + "</td><td" +
        (t.nonfinite_total ? " class=\"bad\"" : "") + ">" + std::to_string(t.nonfinite_total) +
        "</td><td" + (t.e4m3 && t.e4m3->overflow > 0 ? " class=\"bad\"" : "") + ">" +
        fp8_text(t.e4m3) + "</td><td" + (t.e5m2 && t.e5m2->overflow > 0 ? " class=\"bad\"" : "") +
        ">" + fp8_text(t.e5m2) + "</td></tr>\n";
  }
  out += "</tbody>\n</table>\n";
  if (digest.tensors().size() > options.max_tensor_rows) {
    out += "<p class=\"note\">" +
           std::to_string(digest.tensors().size() - options.max_tensor_rows) +
           " more tensors not shown; <code>ttap report --format json</code> lists them all.</p>\n";
  }
  return out;
}

std::string ranks_section(const run_digest &digest) {
  if (digest.ranks().empty()) return "";
  std::string out =
      "<h2 id=\"ranks\">Ranks</h2>\n<p class=\"note\">Each rank's own part of the group "
      "samples, before any reduction: samples it contributed to and missed, its mean step time, "
      "the l2 over its grad tensors at the last sample, its NaN/Inf values, and the group alerts "
      "about it.</p>\n<table id=\"ttap-ranks\">\n<thead><tr><th>rank</th><th>samples</th>"
      "<th>absent</th><th>step s</th><th>last grad l2</th><th>NaN/Inf</th><th class=\"text\">"
      "group alerts</th></tr></thead>\n<tbody>\n";
  for (const rank_total_row &r : digest.ranks()) {
    std::string alerts;
    for (const alert_row &a : digest.alerts()) {
      if (a.rank == r.rank && (a.type == "nonfinite_source" || a.type == "divergence" ||
                               a.type == "outlier_rank" || a.type == "straggler"))
        alerts += (alerts.empty() ? "" : ", ") + a.type + " (step " + std::to_string(a.step) + ")";
    }
    out += "<tr><td>" + std::to_string(r.rank) + "</td><td>" + std::to_string(r.samples) +
           "</td><td>" + std::to_string(r.absent) + "</td><td>" + value_or_dash(r.step_seconds) +
           "</td><td>" + value_or_dash(r.last_grad_l2) + "</td><td" +
           (r.nonfinite ? " class=\"bad\"" : "") + ">" + std::to_string(r.nonfinite) +
           "</td><td class=\"text" + (alerts.empty() ? "" : " bad") + "\">" +
           esc(alerts.empty() ? "-" : alerts) + "</td></tr>\n";
  }
  return out + "</tbody>\n</table>\n";
}

std::string overhead_section(const run_digest &digest) {
  const run_counters_row c = digest.counter_totals();
  const run_facts f = facts_of(digest);
  char seconds[64];
  std::snprintf(seconds, sizeof seconds, "%.3g s host + %.3g s device", c.overhead_seconds,
                c.device_seconds);
  std::string share = std::string(seconds) + "; no step time recorded, so no share of it";
  if (f.overhead_fraction) {
    char buf[200];
    std::snprintf(buf, sizeof buf, "%.3g%% of step time (%.3g s host + %.3g s device of %.3g s)",
                  *f.overhead_fraction * 100, c.overhead_seconds, c.device_seconds, c.step_seconds);
    share = buf;
  }
  std::string out = "<h2 id=\"overhead\">tensortap's overhead</h2>\n<table class=\"facts\">\n";
  add_fact(&out, "time on the training thread and the device", esc(share));
  add_fact(&out, "samples taken", std::to_string(c.samples_taken));
  add_fact(&out, "samples skipped (every result slot busy)", std::to_string(c.samples_skipped));
  add_fact(&out, "records dropped (queue full)", std::to_string(c.records_dropped));
  add_fact(&out, "samples rejected (step not increasing)", std::to_string(c.samples_rejected));
  add_fact(&out, "alerts not printed (rate limit)", std::to_string(c.alerts_suppressed));
  return out + "</table>\n";
}

}  // namespace

std::string report_html(const run_digest &digest, const html_options &options) {
  std::string out = html_page_head("ttap report", "ttap report: " + options.run_dir, kStyle);
  out += "<h1>ttap report</h1>\n";
  out += facts_section(digest, options);
  out += callout(digest);
  out += gaps_section(digest);
  out += sessions_section(digest);

  out += "<h2 id=\"heatmap\">l2 of every tensor over steps</h2>\n";
  out += plot_block(l2_heatmap_svg(digest, options.limits));

  bool any_grad = false;
  for (const auto &t : digest.tensors()) any_grad = any_grad || t.kind == "grad";
  out += "<h2 id=\"grad-norm\">Global gradient norm</h2>\n<p class=\"note\">" +
         std::string(any_grad ? "sqrt of the sum of every grad tensor's l2&sup2; per step"
                              : "no grad tensors: sqrt of the sum of every tensor's l2&sup2; "
                                "per step") +
         "; dashed lines mark alerts (hover for the message), red triangles steps with NaN/Inf."
         "</p>\n";
  out += plot_block(grad_norm_svg(digest, options.limits));
  const svg_plot loss = loss_svg(digest, options.limits);
  if (!loss.svg.empty()) out += "<h2 id=\"loss\">Loss</h2>\n" + plot_block(loss);

  out += "<h2 id=\"exp-hist\">Exponent histogram over steps";
  if (!digest.hist_tensor().empty()) out += ": <code>" + esc(digest.hist_tensor()) + "</code>";
  out += "</h2>\n<p class=\"note\">";
  if (!options.hist_reason.empty()) out += "Shown: " + esc(options.hist_reason) + ". ";
  out +=
      "Rows are binary exponents e (2<sup>e</sup> &le; |x| &lt; 2<sup>e+1</sup>), color the "
      "fraction of finite nonzero values in the bin; dashed lines bound what fp8 e4m3 and e5m2 "
      "hold without scaling. Choose another tensor with <code>--tensor NAME</code>.</p>\n";
  out += plot_block(exp_hist_svg(digest, options.limits));

  out += alerts_section(digest, options);
  out += actions_section(digest);
  out += tensors_section(digest, options);
  out += ranks_section(digest);
  out += overhead_section(digest);
  out += html_page_end({kHeatmapId, kGradNormId, kExpHistId});
  return out;
}

}  // namespace ttap::report
