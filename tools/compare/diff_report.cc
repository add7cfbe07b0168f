// Rendering a run comparison: the findings sentences, the JSON document (null where a value is
// missing or not a number: JSON cannot spell NaN) and the HTML page, which reuses the report's
// inline-SVG plotting (tools/report/svg_plots.h) and its no-network page rules.
#include "tools/compare/diff_report.h"

#include <cmath>
#include <cstdio>

#include "runtime/store/row_json.h"
#include "tools/report/html_page.h"
#include "tools/report/svg_plots.h"

namespace ttap::compare {
namespace {

using json = nlohmann::ordered_json;
using report::html_escape;

std::string value_text(const std::optional<double> &v) { return v ? precise_number(*v) : "none"; }

// "l2 1.2 vs 1.3 (B/A 1.08)"
std::string difference_text(const value_difference &d) {
  std::string out = d.field + " " + value_text(d.a) + " vs " + value_text(d.b);
  if (d.a && d.b) {
    if (auto r = ratio(*d.a, *d.b)) out += " (B/A " + precise_number(*r) + ")";
  }
  return out;
}

json key_json(const series_key &key) {
  return {{"tensor", key.tensor}, {"rank", key.rank}, {"part", key.part}};
}

json difference_json(const value_difference &d) {
  json j = {{"step", d.step}, {"field", d.field}, {"a", json_number(d.a)}, {"b", json_number(d.b)}};
  std::optional<double> r;
  if (d.a && d.b) r = ratio(*d.a, *d.b);
  j["ratio"] = json_number(r);
  return j;
}

json alerts_json(const std::vector<alert_row> &alerts) {
  json out = json::array();
  for (const alert_row &a : alerts)
    out.push_back({{"step", a.step},
                   {"rank", a.rank},
                   {"type", a.type},
                   {"tensor", a.tensor},
                   {"message", a.message}});
  return out;
}

json side_json(const run_side &s) {
  return {{"dir", s.dir},
          {"steps", s.steps},
          {"first_step", s.steps ? json(s.first_step) : json(nullptr)},
          {"last_step", s.steps ? json(s.last_step) : json(nullptr)},
          {"tensors", s.tensors}};
}

report::overlay_series curve(const std::string &label, const std::vector<curve_point> &points) {
  report::overlay_series s;
  s.label = label;
  for (const curve_point &p : points) s.points.emplace_back(p.step, p.value);
  return s;
}

std::string plot_block(const report::svg_plot &plot) {
  std::string out = plot.svg;
  if (!plot.note.empty()) out += "<p class=\"note\">" + html_escape(plot.note) + "</p>\n";
  return out;
}

std::string alerts_table(const std::vector<alert_row> &alerts) {
  std::string out =
      "<table>\n<thead><tr><th>step</th><th>rank</th><th class=\"text\">type</th><th "
      "class=\"text\">tensor</th><th class=\"text\">message</th></tr></thead>\n<tbody>\n";
  for (const alert_row &a : alerts)
    out += "<tr><td>" + std::to_string(a.step) + "</td><td>" + std::to_string(a.rank) +
           "</td><td class=\"text\">" + html_escape(a.type) + "</td><td class=\"text name\">" +
           html_escape(a.tensor) + "</td><td class=\"text\">" + html_escape(a.message) +
           "</td></tr>\n";
  return out + "</tbody>\n</table>\n";
}

}  // namespace

std::string verdict_of(const run_diff &diff) {
  return diff.identical() ? "identical" : diff.equal() ? "equal" : "different";
}

std::string series_label(const series_key &key) {
  if (key.part) return key.tensor + " (rank " + std::to_string(key.rank) + "'s own part)";
  if (key.rank != 0) return key.tensor + " (rank " + std::to_string(key.rank) + ")";
  return key.tensor;
}

std::string precise_number(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

std::vector<std::string> diff_findings(const run_diff &d) {
  std::vector<std::string> out;
  char tol[96];
  std::snprintf(tol, sizeof tol, "rtol %g, atol %g", d.options.rtol, d.options.atol);
  const std::string through = d.common_steps
                                  ? " through step " + std::to_string(d.last_common_step) + " (" +
                                        std::to_string(d.common_steps) + " common steps)"
                                  : "";
  if (d.identical()) {
    out.push_back(
        "identical to the bit" + through + ": every stored summary" +
        std::string(d.scalars.empty() ? "" : " and scalar") + " of the common steps is equal" +
        (d.fingerprints_compared ? ", and the fingerprints (a hash of every value) too"
                                 : " (no fingerprints stored: the summaries, not the data, are "
                                   "compared)"));
  } else if (d.equal()) {
    out.push_back("equal within the tolerance (" + std::string(tol) + ")" + through +
                  ", but not identical to the bit");
  } else if (d.first) {
    out.push_back("differ: first at step " + std::to_string(d.first->step) + ": " +
                  series_label(*d.first_tensor) + ": " + difference_text(*d.first) + " (" + tol +
                  ")");
  } else {
    out.push_back("differ (" + std::string(tol) + "); every value of the common steps is " +
                  "within the tolerance" + (through.empty() ? "" : through));
  }
  if (d.first_fingerprint_diff) {
    out.push_back("fingerprints first differ at step " +
                  std::to_string(d.first_fingerprint_diff->step) + ": " +
                  series_label(*d.first_fingerprint_tensor) + " (" +
                  std::to_string(d.fingerprints_compared) + " fingerprints compared)");
  } else if (d.fingerprints_identical_through) {
    out.push_back("fingerprints identical to the bit through step " +
                  std::to_string(*d.fingerprints_identical_through) + " (" +
                  std::to_string(d.fingerprints_compared) + " compared)");
  }
  if (d.common_steps == 0 && (d.a.steps || d.b.steps))
    out.push_back("no step was sampled by both runs: nothing to compare");
  if (d.a.steps != d.common_steps || d.b.steps != d.common_steps)
    out.push_back("sampled steps: A " + std::to_string(d.a.steps) + ", B " +
                  std::to_string(d.b.steps) + ", both " + std::to_string(d.common_steps) +
                  " (only the steps both sampled are compared)");
  auto list = [](const std::vector<series_key> &keys) {
    std::string s;
    for (size_t i = 0; i < keys.size() && i < 5; ++i) s += (i ? ", " : "") + series_label(keys[i]);
    if (keys.size() > 5) s += ", ... (" + std::to_string(keys.size() - 5) + " more)";
    return s;
  };
  if (!d.only_a.empty())
    out.push_back(std::to_string(d.only_a.size()) + " tensors only in A: " + list(d.only_a));
  if (!d.only_b.empty())
    out.push_back(std::to_string(d.only_b.size()) + " tensors only in B: " + list(d.only_b));
  for (const scalar_diff &s : d.scalars) {
    if (s.first_beyond)
      out.push_back("scalar " + s.name + (s.rank ? " (rank " + std::to_string(s.rank) + ")" : "") +
                    " first differs at step " + std::to_string(s.first_beyond->step) + ": " +
                    difference_text(*s.first_beyond));
  }
  for (const auto &[name, rank] : d.scalars_only_a) out.push_back("scalar " + name + " only in A");
  for (const auto &[name, rank] : d.scalars_only_b) out.push_back("scalar " + name + " only in B");
  auto alerts_line = [](const std::vector<alert_row> &alerts, const char *which) {
    const alert_row &a = alerts.front();
    return std::to_string(alerts.size()) + " alerts only in " + which + ", the first: step " +
           std::to_string(a.step) + " " + a.type + " " + a.tensor + ": " + a.message;
  };
  if (!d.alerts_only_a.empty()) out.push_back(alerts_line(d.alerts_only_a, "A"));
  if (!d.alerts_only_b.empty()) out.push_back(alerts_line(d.alerts_only_b, "B"));
  return out;
}

json diff_json(const run_diff &d) {
  json j;
  j["run_a"] = side_json(d.a);
  j["run_b"] = side_json(d.b);
  j["options"] = {{"rtol", d.options.rtol}, {"atol", d.options.atol}};
  j["verdict"] = verdict_of(d);
  j["findings"] = diff_findings(d);
  j["common_steps"] = d.common_steps;
  j["last_common_step"] = d.common_steps ? json(d.last_common_step) : json(nullptr);
  j["summaries_identical"] = d.summaries_identical;
  if (d.first) {
    j["first_difference"] = difference_json(*d.first);
    j["first_difference"].update(key_json(*d.first_tensor));
  } else {
    j["first_difference"] = nullptr;
  }
  json fp = {
      {"compared", d.fingerprints_compared},
      {"identical_through",
       d.fingerprints_identical_through ? json(*d.fingerprints_identical_through) : json(nullptr)}};
  if (d.first_fingerprint_diff) {
    fp["first_difference"] = key_json(*d.first_fingerprint_tensor);
    fp["first_difference"]["step"] = d.first_fingerprint_diff->step;
  } else {
    fp["first_difference"] = nullptr;
  }
  j["fingerprints"] = std::move(fp);
  json tensors = json::array();
  for (const tensor_diff &t : d.tensors) {
    json row = key_json(t.key);
    row["kind"] = t.kind;
    row["steps_a"] = t.steps_a;
    row["steps_b"] = t.steps_b;
    row["common_steps"] = t.common_steps;
    row["last_common_step"] = t.last_common_step ? json(*t.last_common_step) : json(nullptr);
    row["l2_a"] = t.last_common_step ? json_number(t.l2_a) : json(nullptr);
    row["l2_b"] = t.last_common_step ? json_number(t.l2_b) : json(nullptr);
    row["l2_ratio"] = t.last_common_step ? json_number(ratio(t.l2_a, t.l2_b)) : json(nullptr);
    row["max_rel_diff"] = json_number(t.max_rel_diff);
    row["first_beyond"] = t.first_beyond ? difference_json(*t.first_beyond) : json(nullptr);
    row["fingerprints_compared"] = t.fingerprints_compared;
    row["first_fingerprint_difference"] =
        t.first_fingerprint_diff ? json(*t.first_fingerprint_diff) : json(nullptr);
    row["identical"] = t.summaries_identical && !t.first_fingerprint_diff;
    tensors.push_back(std::move(row));
  }
  j["tensors"] = std::move(tensors);
  auto keys = [](const std::vector<series_key> &ks) {
    json out = json::array();
    for (const auto &k : ks) out.push_back(key_json(k));
    return out;
  };
  j["tensors_only_in_a"] = keys(d.only_a);
  j["tensors_only_in_b"] = keys(d.only_b);
  json scalars = json::array();
  for (const scalar_diff &s : d.scalars) {
    scalars.push_back(
        {{"name", s.name},
         {"rank", s.rank},
         {"steps_a", s.steps_a},
         {"steps_b", s.steps_b},
         {"common_steps", s.common_steps},
         {"last_common_step", s.last_common_step ? json(*s.last_common_step) : json(nullptr)},
         {"last_a", json_number(s.last_a)},
         {"last_b", json_number(s.last_b)},
         {"max_rel_diff", json_number(s.max_rel_diff)},
         {"first_beyond", s.first_beyond ? difference_json(*s.first_beyond) : json(nullptr)},
         {"identical", s.identical}});
  }
  j["scalars"] = std::move(scalars);
  auto names = [](const std::vector<std::pair<std::string, int32_t>> &ns) {
    json out = json::array();
    for (const auto &[name, rank] : ns) out.push_back({{"name", name}, {"rank", rank}});
    return out;
  };
  j["scalars_only_in_a"] = names(d.scalars_only_a);
  j["scalars_only_in_b"] = names(d.scalars_only_b);
  j["alerts_only_in_a"] = alerts_json(d.alerts_only_a);
  j["alerts_only_in_b"] = alerts_json(d.alerts_only_b);
  return j;
}

std::string diff_html(const run_diff &d, size_t max_tensor_rows) {
  const std::string verdict = verdict_of(d);
  std::string out = report::html_page_head("ttap diff", "ttap diff: " + d.a.dir + " vs " + d.b.dir,
                                           "", " data-verdict=\"" + verdict + "\"");
  out += "<h1>ttap diff</h1>\n<table class=\"facts\">\n";
  for (const run_side *s : {&d.a, &d.b}) {
    out += "<tr><th>" + std::string(s == &d.a ? "A" : "B") + "</th><td><code>" +
           html_escape(s->dir) + "</code>: " + std::to_string(s->steps) + " steps sampled" +
           (s->steps ? " (" + std::to_string(s->first_step) + "&ndash;" +
                           std::to_string(s->last_step) + ")"
                     : std::string()) +
           ", " + std::to_string(s->tensors) + " tensor series</td></tr>\n";
  }
  out += "</table>\n";
  const std::vector<std::string> findings = diff_findings(d);
  out += "<div class=\"callout" + std::string(verdict == "different" ? "" : " ok") + "\">\n";
  for (const std::string &f : findings) out += "<p>" + html_escape(f) + "</p>\n";
  out += "</div>\n";

  report::plot_limits limits;
  out +=
      "<h2>Global gradient norm</h2>\n<p class=\"note\">sqrt of the sum of every grad "
      "tensor's l2&sup2; per step; gaps where a gradient held NaN/Inf.</p>\n";
  out += plot_block(report::overlay_svg(
      kDiffGradNormId, "global gradient norm",
      {curve("A: " + d.a.dir, d.a.grad_norm), curve("B: " + d.b.dir, d.b.grad_norm)}, limits,
      true));
  out += "<h2>Loss</h2>\n";
  out += plot_block(report::overlay_svg(
      kDiffLossId, "loss", {curve("A: " + d.a.dir, d.a.loss), curve("B: " + d.b.dir, d.b.loss)},
      limits, false));
  if (!d.diverging.empty()) {
    out +=
        "<h2>The tensors that part first</h2>\n<p class=\"note\">l2 over steps in both runs, "
        "in the order the tensors first went beyond the tolerance.</p>\n";
    for (size_t k = 0; k < d.diverging.size(); ++k) {
      const auto &c = d.diverging[k];
      const std::string id = "ttap-diff-tensor-" + std::to_string(k);
      out += "<h3><code>" + html_escape(series_label(c.key)) + "</code></h3>\n";
      out += plot_block(report::overlay_svg(id.c_str(), "l2 of " + series_label(c.key),
                                            {curve("A", c.a), curve("B", c.b)}, limits, true));
    }
  }

  if (!d.only_a.empty() || !d.only_b.empty()) {
    out += "<h2>Tensors in one run only</h2>\n<ul>\n";
    for (const auto &k : d.only_a)
      out += "<li>A only: <code>" + html_escape(series_label(k)) + "</code></li>\n";
    for (const auto &k : d.only_b)
      out += "<li>B only: <code>" + html_escape(series_label(k)) + "</code></li>\n";
    out += "</ul>\n";
  }
  if (!d.alerts_only_a.empty())
    out += "<h2>Alerts only in A</h2>\n" + alerts_table(d.alerts_only_a);
  if (!d.alerts_only_b.empty())
    out += "<h2>Alerts only in B</h2>\n" + alerts_table(d.alerts_only_b);

  out +=
      "<h2>Tensors</h2>\n<p class=\"note\">l2 at the last common step, the largest relative "
      "difference of l2 and abs_max over every common step, and the first step beyond the "
      "tolerance.</p>\n<table id=\"ttap-diff-tensors\">\n<thead><tr><th class=\"text\">tensor"
      "</th><th>common steps</th><th>l2 A</th><th>l2 B</th><th>B/A</th><th>max rel diff</th>"
      "<th>first beyond</th></tr></thead>\n<tbody>\n";
  size_t shown = 0;
  for (const tensor_diff &t : d.tensors) {
    if (shown++ == max_tensor_rows) break;
    const bool common = t.last_common_step.has_value();
    out += "<tr" + std::string(t.first_beyond ? " class=\"bad\"" : "") +
           "><td class=\"text name\">" + html_escape(series_label(t.key)) + "</td><td>" +
           std::to_string(t.common_steps) + "</td><td>" + (common ? precise_number(t.l2_a) : "-") +
           "</td><td>" + (common ? precise_number(t.l2_b) : "-") + "</td><td>" +
           (common ? value_text(ratio(t.l2_a, t.l2_b)) : "-") + "</td><td>" +
           report::label_number(t.max_rel_diff) + "</td><td>" +
           (t.first_beyond ? std::to_string(t.first_beyond->step) : "-") + "</td></tr>\n";
  }
  out += "</tbody>\n</table>\n";
  if (d.tensors.size() > max_tensor_rows)
    out += "<p class=\"note\">" + std::to_string(d.tensors.size() - max_tensor_rows) +
           " more tensors; <code>ttap diff --format json</code> lists them all.</p>\n";
  out += report::html_page_end({"ttap-diff-grad-norm", "ttap-diff-loss"});
  return out;
}

}  // namespace ttap::compare
