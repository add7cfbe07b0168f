// The static report's targets on made-up rows: a spill, a main loop over its budget and a loop that
// was not found each fail `ttap bench --static --check`; uncounted fp64 and rows within budget
// pass.
#include <gtest/gtest.h>

#include "benchmarks/static_report.h"

namespace ttap::bench {
namespace {

static_row row(const char *dtype, double instr, double budget, int spills = 0) {
  static_row r{};
  r.name = "fused_stats_kernel";
  r.dtype = dtype;
  r.arch = "sm_90";
  r.spill_bytes = spills;
  r.ptx_instr_per_elem = instr;
  r.max_instr_per_elem = budget;
  r.bandwidth_ms_per_gb = 0.3;
  r.projected_ms_per_gb = 0.3;
  return r;
}

TEST(StaticReport, EveryMissIsNamed) {
  static_report report;
  report.available = true;
  report.rows = {row("bf16", 17.0, 19.5), row("f64", -1, -1), row("f8e4m3", 10.5, 9.7),
                 row("f16", 12.0, 19.5, 8), row("f32", -1, 38.9)};
  std::vector<std::string> missed = missed_static_targets(report);
  ASSERT_EQ(missed.size(), 3u);
  EXPECT_NE(missed[0].find("f8e4m3: 10.5 PTX instructions per element, budget 9.7"),
            std::string::npos)
      << missed[0];
  EXPECT_NE(missed[1].find("f16: 8 spill bytes"), std::string::npos) << missed[1];
  EXPECT_NE(missed[2].find("f32: main loop not found"), std::string::npos) << missed[2];
}

TEST(StaticReport, AllWithinBudgetPasses) {
  static_report report;
  report.available = true;
  report.rows = {row("bf16", 19.4, 19.5), row("f64", -1, -1)};
  EXPECT_TRUE(missed_static_targets(report).empty());
}

// The budgets the real report sets scale with the element size: 10% over the memory floor at the
// H100 issue rate the projection assumes.
TEST(StaticReport, BudgetsScaleWithElementSize) {
  static_report report = make_static_report(default_static_dir());
  if (!report.available) GTEST_SKIP() << report.error;
  for (const auto &r : report.rows) {
    if (r.dtype == "f64") {
      EXPECT_LT(r.max_instr_per_elem, 0);
      continue;
    }
    double bytes = r.dtype == "f32" ? 4 : r.dtype == "f8e4m3" || r.dtype == "f8e5m2" ? 1 : 2;
    EXPECT_NEAR(r.max_instr_per_elem, 9.74 * bytes, 0.05) << r.arch << " " << r.dtype;
    // Within budget exactly when the projection is within 10% of the floor.
    EXPECT_EQ(r.ptx_instr_per_elem <= r.max_instr_per_elem,
              r.projected_ms_per_gb <= 1.1 * r.bandwidth_ms_per_gb + 1e-12)
        << r.arch << " " << r.dtype;
  }
}

}  // namespace
}  // namespace ttap::bench
