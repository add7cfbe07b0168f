// `ttap selftest` through the built binary: on this machine (no GPU) it runs the cpu-vs-emulated
// part and says why cuda was not exercised; its cuda branch, run on the emulated device by the
// test-only switch, passes, and fails when one histogram count of a device result is flipped. The
// NCCL group and injection checks run there too, over the stand-in NCCL of the hook tests (several
// ranks in one process, host memory), and fail on their own planted faults.
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
  // 0 and 1 are the selftest's verdicts; anything else (a crash, a sanitizer's abort after the
  // checks) fails with the end of its stderr, where the report is.
  EXPECT_LE(r.status, 1) << r.err.substr(r.err.size() > 8000 ? r.err.size() - 8000 : 0);
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
  EXPECT_EQ(r.doc["parts"]["nccl_group"], false);
  EXPECT_EQ(r.doc["parts"]["injection"], false);
  // The cuda backend, the NCCL group and the injection child: each skipped with the driver's word.
  std::vector<nlohmann::json> cuda = checks_of(r.doc, "cuda");
  ASSERT_EQ(cuda.size(), 3u);
  for (const auto &c : cuda) {
    EXPECT_EQ(c["result"], "SKIPPED") << c.dump();
    EXPECT_EQ(c["detail"], "not exercised: " + why) << c.dump();
  }
}

nlohmann::json check_named(const nlohmann::json &doc, const std::string &name) {
  for (const auto &c : doc["checks"])
    if (c["part"] == "cuda" && c["check"] == name) return c;
  ADD_FAILURE() << "no cuda check named " << name << " in " << doc.dump(2);
  return nlohmann::json::object();
}

const char kGroupCheck[] = "NCCL group over every local GPU";
const char kInjectionCheck[] = "CUPTI/NVTX injection in a child process";

TEST(Selftest, CudaBranchOnTheEmulatedDevicePasses) {
  selftest_run r = run_selftest({"--test-cuda-on-emulated", "--bandwidth-mib", "2",
                                 "--test-nccl-library", TTAP_NCCL_STANDIN});
  EXPECT_EQ(r.status, 0) << r.doc.dump(2);
  EXPECT_EQ(r.doc["parts"]["cuda"], true);
  EXPECT_EQ(r.doc["parts"]["nccl_group"], true);
  EXPECT_EQ(r.doc["parts"]["injection"], true);
  int passed = 0;
  for (const auto &c : checks_of(r.doc, "cuda")) {
    EXPECT_NE(c["result"], "FAIL") << c.dump();
    passed += c["result"] == "PASS";
    std::string name = c["check"];
    if (name.rfind("bandwidth", 0) == 0) {
      EXPECT_NE(c["detail"].get<std::string>().find("of peak"), std::string::npos) << c.dump();
    }
  }
  // Five kernel checks, two bandwidth runs, the C API on a stream, the group and the injection.
  EXPECT_EQ(passed, 10) << r.doc.dump(2);
  nlohmann::json group = check_named(r.doc, kGroupCheck);
  EXPECT_EQ(group["result"], "PASS") << group.dump();
  EXPECT_NE(group["detail"].get<std::string>().find("agree with the cpu executor"),
            std::string::npos)
      << group.dump();
  // What ran of the injection, and what could not (no CUPTI without a GPU).
  nlohmann::json injection = check_named(r.doc, kInjectionCheck);
  EXPECT_EQ(injection["result"], "PASS") << injection.dump();
  EXPECT_NE(injection["detail"].get<std::string>().find("named by the NVTX ranges, values right"),
            std::string::npos)
      << injection.dump();
  EXPECT_NE(injection["detail"].get<std::string>().find("CUPTI not exercised"), std::string::npos)
      << injection.dump();
}

// Without an NCCL for the emulated device, the two checks say so instead of failing.
TEST(Selftest, CudaBranchOnTheEmulatedDeviceWithoutNcclSkipsGroupAndInjection) {
  selftest_run r = run_selftest({"--test-cuda-on-emulated", "--bandwidth-mib", "2"});
  EXPECT_EQ(r.status, 0) << r.doc.dump(2);
  EXPECT_EQ(r.doc["parts"]["nccl_group"], false);
  EXPECT_EQ(r.doc["parts"]["injection"], false);
  for (const char *name : {kGroupCheck, kInjectionCheck}) {
    nlohmann::json c = check_named(r.doc, name);
    EXPECT_EQ(c["result"], "SKIPPED") << c.dump();
    EXPECT_NE(c["detail"].get<std::string>().find("--test-nccl-library"), std::string::npos)
        << c.dump();
  }
}

// The planted faults: only the check they target fails, and says what it found.
TEST(Selftest, GroupCheckCatchesAChangedValueOnOneRank) {
  selftest_run r = run_selftest({"--test-cuda-on-emulated", "--bandwidth-mib", "2",
                                 "--test-nccl-library", TTAP_NCCL_STANDIN, "--test-break-group"});
  EXPECT_EQ(r.status, 1) << r.doc.dump(2);
  for (const auto &c : r.doc["checks"]) {
    if (c["check"] != kGroupCheck) {
      EXPECT_NE(c["result"], "FAIL") << c.dump();
    }
  }
  nlohmann::json group = check_named(r.doc, kGroupCheck);
  EXPECT_EQ(group["result"], "FAIL") << group.dump();
  const std::string detail = group["detail"];
  EXPECT_NE(detail.find("selftest.grad.f32"), std::string::npos) << detail;
  EXPECT_NE(detail.find("histogram bin"), std::string::npos) << detail;
}

TEST(Selftest, InjectionCheckCatchesAChildWithoutNvtxInjection) {
  selftest_run r =
      run_selftest({"--test-cuda-on-emulated", "--bandwidth-mib", "2", "--test-nccl-library",
                    TTAP_NCCL_STANDIN, "--test-break-injection"});
  EXPECT_EQ(r.status, 1) << r.doc.dump(2);
  for (const auto &c : r.doc["checks"]) {
    if (c["check"] != kInjectionCheck) {
      EXPECT_NE(c["result"], "FAIL") << c.dump();
    }
  }
  nlohmann::json injection = check_named(r.doc, kInjectionCheck);
  EXPECT_EQ(injection["result"], "FAIL") << injection.dump();
  // Without NVTX no step range opens, so no reduction is summarized under the ranges' name.
  const std::string detail = injection["detail"];
  EXPECT_NE(detail.find("no sample of ttap_selftest_step/layer/nccl.allreduce.0"),
            std::string::npos)
      << detail;
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
