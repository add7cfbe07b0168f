// The shared frame of ttap's HTML pages: one stylesheet base, one error recorder and one render
// check instead of a copy in each page.
#include "tools/report/html_page.h"

#include "tools/report/svg_plots.h"

namespace ttap::report {
namespace {

constexpr const char *kBaseStyle = R"(
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px;
       color: #222; max-width: 1300px; }
h1 { font-size: 20px; margin-bottom: 4px; }
h2 { font-size: 16px; margin-top: 32px; border-bottom: 1px solid #ddd; }
code, .name { font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
table { border-collapse: collapse; font-size: 13px; }
th, td { padding: 2px 10px; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; }
td.text, th.text, .facts td, .facts th { text-align: left; }
.bad { color: #e4002b; font-weight: 600; }
.note { color: #666; font-size: 12px; margin: 2px 0 0 0; }
.callout { padding: 8px 12px; border-left: 4px solid #e4002b; background: #fff3f3; }
.callout.ok { border-color: #2a9d4a; background: #f2faf4; }
svg.plot { display: block; margin: 8px 0; max-width: 100%; height: auto; }
svg text { font: 11px ui-monospace, "DejaVu Sans Mono", monospace; fill: #333; }
svg .axis line { stroke: #888; }
svg .frame { fill: none; stroke: #bbb; }
svg .axis line.grid { stroke: #e8e8e8; }
svg .empty { font-size: 13px; fill: #888; }
)";

// Registered first, so an error in any later script is recorded for the closing check.
constexpr const char *kErrorCollector = R"(<script>
window.ttapErrors = [];
window.addEventListener('error', function (e) { window.ttapErrors.push('error: ' + e.message); });
</script>
)";

}  // namespace

std::string html_page_head(const std::string &generator, const std::string &title,
                           const char *extra_style, const std::string &body_attributes) {
  return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
         // Nothing may be fetched: the page is complete as written.
         "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
         "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n"
         "<meta name=\"generator\" content=\"" +
         generator + "\">\n<title>" + html_escape(title) + "</title>\n<style>" + kBaseStyle +
         extra_style + "</style>\n" + kErrorCollector + "</head>\n<body data-render=\"pending\"" +
         body_attributes + ">\n";
}

std::string html_page_end(std::initializer_list<const char *> plot_ids) {
  // Runs last, when the whole document is parsed.
  std::string ids;
  for (const char *id : plot_ids) ids += std::string(ids.empty() ? "" : ", ") + "'" + id + "'";
  return R"(<script>
(function () {
  'use strict';
  var problems = [];
  [)" + ids +
         R"(].forEach(function (id) {
    var svg = document.getElementById(id);
    if (!(svg instanceof SVGSVGElement)) { problems.push(id + ' is missing'); return; }
    var box = svg.getBBox();
    if (!(box.width > 0 && box.height > 0)) problems.push(id + ' draws nothing');
  });
  problems = window.ttapErrors.concat(problems);
  document.body.setAttribute('data-render', problems.length ? problems.join('; ') : 'ok');
})();
</script>
</body>
</html>
)";
}

}  // namespace ttap::report
