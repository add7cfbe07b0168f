// `ttap report RUN RUN...`: one text row per run, the JSON list, and the HTML page whose overlays
// (every run's gradient norm and loss, with a legend) render in headless chromium; the diff page
// too. Bad input (a directory that is not a run, one run twice) is status 2.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/tools/compare/compare_test_runs.h"
#include "tests/tools/ttap/tool_runner.h"

namespace ttap::test {
namespace {

using json = nlohmann::json;

bool contains(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

// Loads `html` in headless chromium and returns the DOM after the page's scripts ran.
tool_run dump_dom(const std::string &html, const temp_dir &dir) {
  return run_tool(
      CHROMIUM_BINARY,
      {"--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
       "--user-data-dir=" + dir.path("chromium-profile"), "--dump-dom", "file://" + html},
      dir);
}

struct three_runs {
  temp_dir dir;
  three_runs() {
    write_recipe_run(dir.path("base"), {});
    run_recipe nan;
    nan.nan_step = 6;
    write_recipe_run(dir.path("nan"), nan);
    run_recipe big;
    big.scale = 4;
    big.scale_from = 10;
    write_recipe_run(dir.path("big"), big);
  }
  std::vector<std::string> args(std::vector<std::string> head) const {
    for (const char *name : {"base", "nan", "big"}) head.push_back(dir.path(name));
    return head;
  }
};

TEST(ReportRuns, OneTextRowAndOneJsonEntryPerRun) {
  three_runs runs;
  const tool_run r = run_ttap(runs.args({"report"}), runs.dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "ttap report  3 runs")) << r.out;
  for (const char *name : {"base", "nan", "big"})
    EXPECT_TRUE(contains(r.out, runs.dir.path(name) + " ")) << r.out;
  EXPECT_TRUE(contains(r.out, "step 6 b.grad")) << r.out;

  const tool_run j = run_ttap(runs.args({"report", "--format", "json"}), runs.dir);
  ASSERT_EQ(j.status, 0) << j.err;
  const json doc = json::parse(j.out);
  ASSERT_EQ(doc["runs"].size(), 3u);
  EXPECT_EQ(doc["runs"][0]["dir"], runs.dir.path("base"));
  EXPECT_EQ(doc["runs"][0]["last_step"], 19);
  EXPECT_EQ(doc["runs"][0]["tensors"], 3);
  EXPECT_NEAR(doc["runs"][0]["last_loss"].get<double>(), 3.0 / 20, 1e-12);
  EXPECT_NEAR(doc["runs"][2]["last_loss"].get<double>(), 4 * 3.0 / 20, 1e-12);
  EXPECT_TRUE(doc["runs"][0]["first_nonfinite"].is_null());
  EXPECT_EQ(doc["runs"][1]["first_nonfinite"]["step"], 6);
  // The scaled gradient makes the last global norm larger.
  EXPECT_GT(doc["runs"][2]["last_grad_norm"].get<double>(),
            doc["runs"][0]["last_grad_norm"].get<double>() * 2);
}

TEST(ReportRuns, HtmlOverlaysEveryRunWithALegendAndRenders) {
  three_runs runs;
  const std::string page = runs.dir.path("runs.html");
  const tool_run r = run_ttap(runs.args({"report", "--format", "html", "-o", page}), runs.dir);
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string html = read_whole_file(page);
  for (const char *id : {"ttap-runs-grad-norm", "ttap-runs-loss"})
    EXPECT_TRUE(contains(html, std::string("id=\"") + id + "\" data-series=\"3\"")) << id;
  // One legend entry and one curve group per run in each overlay.
  size_t groups = 0;
  for (size_t at = html.find("class=\"overlay-series\""); at != std::string::npos;
       at = html.find("class=\"overlay-series\"", at + 1))
    ++groups;
  EXPECT_EQ(groups, 6u);
  for (const char *name : {"base", "nan", "big"})
    EXPECT_TRUE(contains(html, "<title>" + runs.dir.path(name) + "</title>")) << name;
  for (const char *external : {"http:", "https:", "src=", "href="})
    EXPECT_FALSE(contains(html, external)) << external;

  const tool_run dom = dump_dom(page, runs.dir);
  ASSERT_EQ(dom.status, 0) << dom.err;
  EXPECT_TRUE(contains(dom.out, "data-render=\"ok\"")) << dom.out.substr(0, 2000);
}

TEST(ReportRuns, DiffHtmlRendersWithTheOverlaysAndThePartingTensor) {
  three_runs runs;
  const std::string page = runs.dir.path("diff.html");
  const tool_run r = run_ttap(
      {"diff", runs.dir.path("base"), runs.dir.path("big"), "--format", "html", "-o", page},
      runs.dir);
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_TRUE(contains(r.out, "wrote " + page)) << r.out;
  const std::string html = read_whole_file(page);
  EXPECT_TRUE(contains(html, "data-verdict=\"different\""));
  EXPECT_TRUE(contains(html, "id=\"ttap-diff-tensor-0\"")) << "no overlay of b.grad";
  EXPECT_TRUE(contains(html, "differ: first at step 10: b.grad: l2 "));
  const tool_run dom = dump_dom(page, runs.dir);
  ASSERT_EQ(dom.status, 0) << dom.err;
  EXPECT_TRUE(contains(dom.out, "data-render=\"ok\"")) << dom.out.substr(0, 2000);
}

TEST(ReportRuns, BadInputIsStatusTwo) {
  three_runs runs;
  tool_run r = run_ttap({"report", runs.dir.path("base"), runs.dir.path("nope")}, runs.dir);
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(contains(r.err, "ttap report: error: " + runs.dir.path("nope") + ": no such"))
      << r.err;
  r = run_ttap({"report", runs.dir.path("base"), runs.dir.path("base") + "/"}, runs.dir);
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(contains(r.err, "are the same run directory")) << r.err;
  r = run_ttap({"report", runs.dir.path("base"), runs.dir.path("nan"), "--tensor", "w"}, runs.dir);
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(contains(r.err, "--tensor applies to the report of one run")) << r.err;
}

}  // namespace
}  // namespace ttap::test
