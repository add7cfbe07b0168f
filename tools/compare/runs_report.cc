// Several runs in one report: each run is folded by the same digest `ttap report` uses (so the
// numbers agree with the single-run report), then laid side by side; the HTML overlays reuse the
// report's SVG plotting.
#include "tools/compare/runs_report.h"

#include <unistd.h>

#include <cmath>
#include <tuple>

#include "runtime/clock.h"
#include "runtime/store/row_json.h"
#include "tools/report/html_page.h"
#include "tools/report/run_digest.h"
#include "tools/report/svg_plots.h"

namespace ttap::compare {
namespace {

using json = nlohmann::ordered_json;
using report::html_escape;

std::string cell(const std::optional<double> &v) { return v ? report::label_number(*v) : "-"; }

}  // namespace

bool overview_of(const std::string &dir, run_overview *out, std::string *error) {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  const double now = wall_seconds();
  *out = run_overview();
  out->listing = describe_run(dir, now, host);
  if (out->listing.state == "unreadable") {
    *error = out->listing.error;
    return false;
  }
  auto reader = run_reader::open(dir, error);
  if (!reader) return false;
  report::digest_options options;
  options.history_limit = 1;  // only the per-step norms and the loss are drawn
  report::run_digest digest(options);
  if (!digest.update(*reader, error)) return false;
  out->tensors = digest.tensors().size();

  // As the single-run report: the gradients' norm, or every tensor's when there is no gradient.
  bool any_grad = false;
  for (const auto &[step, n] : digest.step_norms()) any_grad = any_grad || n.has_grad;
  for (const auto &[step, n] : digest.step_norms()) {
    if (any_grad && !n.has_grad) continue;
    const bool nonfinite = any_grad ? n.grad_nonfinite : n.all_nonfinite;
    const double sum_sq = any_grad ? n.grad_sum_sq : n.all_sum_sq;
    out->grad_norm.push_back(
        {step, nonfinite ? std::nullopt : std::optional<double>(std::sqrt(sum_sq))});
  }
  if (!out->grad_norm.empty()) {
    out->last_grad_norm = out->grad_norm.back().value;
    out->last_grad_norm_step = out->grad_norm.back().step;
  }
  // One rank's loss: in a multi-rank run every rank may log its own.
  if (!digest.loss().empty()) {
    const int32_t rank = digest.loss().front().rank;
    for (const scalar_row &s : digest.loss())
      if (s.rank == rank) out->loss.push_back({s.step, s.value});
    out->last_loss = out->loss.back().value;
    out->last_loss_step = out->loss.back().step;
  }
  return true;
}

json runs_json(const std::vector<run_overview> &runs) {
  json list = json::array();
  for (const run_overview &r : runs) {
    const run_listing &l = r.listing;
    json j;
    j["dir"] = l.dir;
    j["state"] = l.state;
    j["start_time"] = l.start_time;
    j["duration_s"] = l.end_time - l.start_time;
    j["ranks"] = l.ranks;
    j["last_step"] = l.last_step >= 0 ? json(l.last_step) : json(nullptr);
    j["samples"] = l.samples;
    j["tensors"] = r.tensors;
    j["alerts"] = l.alerts;
    j["first_nonfinite"] = l.first_nonfinite ? json{{"step", l.first_nonfinite->step},
                                                    {"rank", l.first_nonfinite->rank},
                                                    {"tensor", l.first_nonfinite->tensor},
                                                    {"message", l.first_nonfinite->message}}
                                             : json(nullptr);
    j["last_loss"] = json_number(r.last_loss);
    j["last_loss_step"] = r.last_loss_step ? json(*r.last_loss_step) : json(nullptr);
    j["last_grad_norm"] = json_number(r.last_grad_norm);
    j["last_grad_norm_step"] = r.last_grad_norm_step ? json(*r.last_grad_norm_step) : json(nullptr);
    j["overhead_fraction"] = json_number(l.overhead_fraction);
    list.push_back(std::move(j));
  }
  return {{"runs", std::move(list)}};
}

std::string runs_html(const std::vector<run_overview> &runs) {
  const std::string title = "ttap report: " + std::to_string(runs.size()) + " runs";
  std::string out = report::html_page_head("ttap report", title, "");
  out += "<h1>" + html_escape(title) + "</h1>\n";
  out +=
      "<table id=\"ttap-runs\">\n<thead><tr><th class=\"text\">run</th><th class=\"text\">state"
      "</th><th>last step</th><th>samples</th><th>tensors</th><th>alerts</th><th class=\"text\">"
      "first non-finite</th><th>last loss</th><th>last grad norm</th><th>overhead %</th></tr>"
      "</thead>\n<tbody>\n";
  for (const run_overview &r : runs) {
    const run_listing &l = r.listing;
    const std::string first =
        l.first_nonfinite
            ? "step " + std::to_string(l.first_nonfinite->step) + " " + l.first_nonfinite->tensor
            : "-";
    std::optional<double> overhead;
    if (l.overhead_fraction) overhead = *l.overhead_fraction * 100;
    out += "<tr><td class=\"text name\">" + html_escape(l.dir) + "</td><td class=\"text\">" +
           html_escape(l.state) + "</td><td>" +
           (l.last_step >= 0 ? std::to_string(l.last_step) : "-") + "</td><td>" +
           std::to_string(l.samples) + "</td><td>" + std::to_string(r.tensors) + "</td><td>" +
           std::to_string(l.alerts) + "</td><td class=\"text" + (l.first_nonfinite ? " bad" : "") +
           "\">" + html_escape(first) + "</td><td>" + cell(r.last_loss) + "</td><td>" +
           cell(r.last_grad_norm) + "</td><td>" + cell(overhead) + "</td></tr>\n";
  }
  out += "</tbody>\n</table>\n";
  std::vector<report::overlay_series> norms, losses;
  for (const run_overview &r : runs) {
    report::overlay_series norm{r.listing.dir, {}}, loss{r.listing.dir, {}};
    for (const curve_point &p : r.grad_norm) norm.points.emplace_back(p.step, p.value);
    for (const curve_point &p : r.loss) loss.points.emplace_back(p.step, p.value);
    norms.push_back(std::move(norm));
    losses.push_back(std::move(loss));
  }
  report::plot_limits limits;
  for (const auto &[id, title, series, log] :
       {std::tuple{kRunsGradNormId, "global gradient norm", &norms, true},
        std::tuple{kRunsLossId, "loss", &losses, false}}) {
    out += "<h2>" + std::string(title) + "</h2>\n";
    const report::svg_plot plot = report::overlay_svg(id, title, *series, limits, log);
    out += plot.svg;
    if (!plot.note.empty()) out += "<p class=\"note\">" + html_escape(plot.note) + "</p>\n";
  }
  out +=
      "<p class=\"note\">Global gradient norm: sqrt of the sum of every grad tensor's "
      "l2&sup2; per step (gaps where a gradient held NaN/Inf). <code>ttap diff A B</code> "
      "compares two runs step by step.</p>\n";
  out += report::html_page_end({"ttap-runs-grad-norm", "ttap-runs-loss"});
  return out;
}

}  // namespace ttap::compare
