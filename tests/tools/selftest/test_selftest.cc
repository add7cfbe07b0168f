// `ttap selftest` through the built binary: on this machine (no GPU) it runs the cpu-vs-emulated
// part and says why cuda was not exercised; its cuda branch, run on the emulated device by the
// test-only switch, passes, and fails when one histogram count of a device result is flipped.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/tools/ttap/tool_runner.h"

namespace ttap {
namespace {

struct selftest_run {
  int status;
  nlohmann::json doc;
};

selftest_run run_selftest(const std::vector<std::string> &extra) {
  test::temp_dir dir;
  std::vector<std::string> args = {"selftest", "--json"};
  args.insert(args.end(), extra.begin(), extra.end());
  test::tool_run r = test::run_tool(TTAP_BINARY, args, dir);
  EXPECT_FALSE(r.out.empty()) << r.err;
  return {r.status, r.out.empty() ? nlohmann::json() : nlohmann::json::parse(r.out)};
}

std::vector<nlohmann::json> checks_of(const nlohmann::json &doc, const std::string &part) {
  std::vector<nlohmann::json> out;
  for (const auto &c : doc["checks"])
    if (c["part"] == part) out.push_back(c);
  return out;
}

TEST(Selftest, WithoutAGpuRunsTheEmulatedPartAndSaysWhyCudaDidNot) {
  selftest_run r = run_selftest({});
  if (r.doc["parts"]["cuda"] == true) GTEST_SKIP() << "a GPU is present: the cuda part ran";
  EXPECT_EQ(r.status, 0) << r.doc.dump(2);
  EXPECT_EQ(r.doc["parts"]["emulated"], true);
  EXPECT_EQ(r.doc["passed"], true);
  // The driver's message, not a generic one.
  std::string why = r.doc["cuda_not_exercised"];
  EXPECT_NE(why.find("no CUDA device"), std::string::npos) << why;
  EXPECT_EQ(why, "no CUDA device: " + r.doc["found"]["cuda_error"].get<std::string>());
  std::vector<nlohmann::json> emulated = checks_of(r.doc, "emulated");
  ASSERT_GE(emulated.size(), 5u);
  for (const auto &c : emulated) EXPECT_EQ(c["result"], "PASS") << c.dump();
  std::vector<nlohmann::json> cuda = checks_of(r.doc, "cuda");
  ASSERT_EQ(cuda.size(), 1u);
  EXPECT_EQ(cuda[0]["result"], "SKIPPED");
}

TEST(Selftest, CudaBranchOnTheEmulatedDevicePasses) {
  selftest_run r = run_selftest({"--test-cuda-on-emulated", "--bandwidth-mib", "2"});
  EXPECT_EQ(r.status, 0) << r.doc.dump(2);
  EXPECT_EQ(r.doc["parts"]["cuda"], true);
  int passed = 0;
  for (const auto &c : checks_of(r.doc, "cuda")) {
    EXPECT_NE(c["result"], "FAIL") << c.dump();
    passed += c["result"] == "PASS";
    std::string name = c["check"];
    if (name.rfind("bandwidth", 0) == 0)
      EXPECT_NE(c["detail"].get<std::string>().find("of peak"), std::string::npos) << c.dump();
  }
  // Five kernel checks, two bandwidth runs and the C API on a stream.
  EXPECT_EQ(passed, 8) << r.doc.dump(2);
}

TEST(Selftest, CudaBranchCatchesOneFlippedHistogramCount) {
  selftest_run r = run_selftest(
      {"--test-cuda-on-emulated", "--bandwidth-mib", "2", "--test-flip-histogram-count"});
  EXPECT_EQ(r.status, 1) << r.doc.dump(2);
  EXPECT_EQ(r.doc["passed"], false);
  int failed = 0;
  for (const auto &c : r.doc["checks"]) {
    if (c["result"] != "FAIL") continue;
    ++failed;
    EXPECT_EQ(c["part"], "cuda");
    EXPECT_NE(c["detail"].get<std::string>().find("histogram bin"), std::string::npos) << c.dump();
  }
  EXPECT_EQ(failed, 1);
}

}  // namespace
}  // namespace ttap
