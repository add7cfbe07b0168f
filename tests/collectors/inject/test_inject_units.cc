// Unit tests of the hook library's parts that need no hooked library: step inference, the flight
// recorder (rings, completion, its JSON lines), the CUPTI kernel aggregation on synthetic
// activity records, and the per-thread NVTX range paths.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "collectors/inject/flight_recorder.h"
#include "collectors/inject/kernel_aggregator.h"
#include "collectors/inject/range_path.h"
#include "collectors/inject/step_inference.h"

namespace ttap::inject {
namespace {

const char *const kAllreduce = "allreduce";

reduction_key key(uintptr_t buffer, uint64_t count = 100) {
  return {reinterpret_cast<const void *>(0x1000), reinterpret_cast<const void *>(buffer), count, 0,
          kAllreduce};
}

std::vector<int64_t> steps_of(step_inference &s, const std::vector<uintptr_t> &buffers) {
  std::vector<int64_t> out;
  for (uintptr_t b : buffers) {
    bool opened = false;
    out.push_back(s.on_reduction(key(b), &opened));
  }
  return out;
}

TEST(StepInference, ARepeatedBucketOpensTheNextStep) {
  step_inference s;
  EXPECT_EQ(steps_of(s, {1, 2, 3, 1, 2, 3, 1, 2, 3}),
            (std::vector<int64_t>{0, 0, 0, 1, 1, 1, 2, 2, 2}));
}

TEST(StepInference, OneOffReductionsDoNotShiftLaterSteps) {
  step_inference s;
  // A setup all-reduce (9) before the loop, and one (8) in the middle of step 1.
  EXPECT_EQ(steps_of(s, {9, 1, 2, 1, 8, 2, 1, 2}), (std::vector<int64_t>{0, 0, 0, 1, 1, 1, 2, 2}));
}

TEST(StepInference, SameBufferWithAnotherCountIsAnotherBucket) {
  step_inference s;
  bool opened = false;
  EXPECT_EQ(s.on_reduction(key(1, 100), &opened), 0);
  EXPECT_TRUE(opened);
  EXPECT_EQ(s.on_reduction(key(1, 50), &opened), 0);
  EXPECT_FALSE(opened);
  EXPECT_EQ(s.on_reduction(key(1, 100), &opened), 1);
  EXPECT_TRUE(opened);
}

TEST(StepInference, StepRangeModeIgnoresThePattern) {
  step_inference s;
  s.use_step_range();
  bool opened = false;
  EXPECT_FALSE(s.in_step());
  EXPECT_EQ(s.on_reduction(key(1), &opened), 0);
  EXPECT_FALSE(opened);
  EXPECT_EQ(s.step_range_opened(&opened), 0);
  EXPECT_TRUE(s.in_step());
  EXPECT_EQ(steps_of(s, {1, 1, 1}), (std::vector<int64_t>{0, 0, 0}));
  EXPECT_EQ(s.step_range_opened(&opened), 1);
  EXPECT_EQ(s.current(), 1);
}

TEST(StepInference, IndicesCountPerSeriesAndRestartEachStep) {
  step_inference s;
  bool opened = false;
  s.on_reduction(key(1), &opened);
  EXPECT_EQ(s.next_index("mpi.allreduce"), 0);
  EXPECT_EQ(s.next_index("mpi.allreduce"), 1);
  EXPECT_EQ(s.next_index("mpi.reduce"), 0);
  s.on_reduction(key(1), &opened);
  EXPECT_EQ(s.next_index("mpi.allreduce"), 0);
}

std::vector<nlohmann::json> lines_of(const std::string &text) {
  std::vector<nlohmann::json> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

TEST(FlightRecorder, KeepsTheLastEntriesPerCommunicatorAsJsonLines) {
  flight_recorder f(4, 8);
  const void *comm = reinterpret_cast<const void *>(0xc0);
  f.note_comm(comm, "nccl", 0, 2, "init", nullptr);
  for (int i = 0; i < 10; ++i) {
    flight_entry e;
    e.op = "allreduce";
    e.dtype = "f32";
    e.count = uint64_t(100 + i);
    e.stream = 0x5157;
    e.enqueue_time = 1000.0 + i;
    e.step = i / 2;
    e.tensor = i % 2 ? "" : "nccl.allreduce.0";
    EXPECT_EQ(f.record(comm, "nccl", e), uint64_t(i));
  }
  f.complete(comm, 9, 2000.5, 0);
  f.complete(comm, 1, 2000.5, 0);  // overwritten: ignored
  flight_header h;
  h.rank = 3;
  h.world = 4;
  h.reason = "SIGUSR1";
  auto lines = lines_of(f.to_jsonl(h));
  ASSERT_EQ(lines.size(), 1u + 1u + 4u);
  EXPECT_EQ(lines[0]["format"], "ttap-flight-recorder");
  EXPECT_EQ(lines[0]["rank"], 3);
  EXPECT_EQ(lines[0]["reason"], "SIGUSR1");
  EXPECT_EQ(lines[1]["type"], "comm");
  EXPECT_EQ(lines[1]["lib"], "nccl");
  EXPECT_EQ(lines[1]["size"], 2);
  EXPECT_EQ(lines[1]["calls"], 10);
  EXPECT_EQ(lines[1]["dropped"], 6);
  for (int i = 0; i < 4; ++i) {
    const auto &e = lines[size_t(2 + i)];
    EXPECT_EQ(e["type"], "call");
    EXPECT_EQ(e["seq"], 6 + i);
    EXPECT_EQ(e["count"], 106 + i);
    EXPECT_EQ(e["stream"], "0x5157");
    EXPECT_EQ(e["step"], (6 + i) / 2);
  }
  EXPECT_EQ(lines[2]["tensor"], "nccl.allreduce.0");
  EXPECT_TRUE(lines[3]["tensor"].is_null());
  EXPECT_TRUE(lines[4]["complete_time"].is_null());
  EXPECT_TRUE(lines[4]["status"].is_null());
  EXPECT_DOUBLE_EQ(lines[5]["complete_time"].get<double>(), 2000.5);
  EXPECT_EQ(lines[5]["status"], 0);
}

TEST(FlightRecorder, ForgetsDestroyedCommunicatorsFirstWhenFull) {
  flight_recorder f(4, 2);
  auto comm = [](uintptr_t v) { return reinterpret_cast<const void *>(v); };
  f.note_comm(comm(1), "mpi", 0, 2, "first use", nullptr);
  f.note_comm(comm(2), "nccl", 0, 2, "init", nullptr);
  f.note_comm_destroyed(comm(2));
  f.note_comm(comm(3), "nccl", 0, 1, "split", comm(1));
  EXPECT_TRUE(f.knows_comm(comm(1)));
  EXPECT_FALSE(f.knows_comm(comm(2)));
  EXPECT_TRUE(f.knows_comm(comm(3)));
  EXPECT_EQ(f.comm_size(comm(3)), 1);
  auto lines = lines_of(f.to_jsonl({}));
  EXPECT_EQ(lines[0]["comms_forgotten"], 1);
  EXPECT_EQ(lines[2]["parent"], "0x1");
  EXPECT_EQ(lines[2]["origin"], "split");
}

TEST(FlightRecorder, JsonStringsAreEscaped) {
  EXPECT_EQ(json_string("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
}

struct scalar_log {
  std::map<std::pair<std::string, int64_t>, double> values;
  kernel_aggregator::scalar_sink sink() {
    return [this](const std::string &n, double v, int64_t s) { values[{n, s}] = v; };
  }
  bool has(const std::string &n, int64_t s) const { return values.count({n, s}) != 0; }
  double at(const std::string &n, int64_t s) const { return values.at({n, s}); }
};

TEST(KernelAggregator, BusyFractionCommTimeAndTopKernelsPerStep) {
  kernel_aggregator a(2, 64);
  scalar_log log;
  a.add_kernel("_Z4initv", 10, 20);  // before the first step
  a.step_began(0, 1000);
  a.add_kernel("_Z11gemm_kernelPKfPfi", 1100, 1400);
  a.add_kernel("_Z11gemm_kernelPKfPfi", 1300, 1600);  // overlaps: busy counts it once
  a.add_kernel("ncclDevKernel_AllReduce_Sum_f32_RING_LL(ncclDevKernelArgsStorage<4096ul>)", 1600,
               1800);
  a.add_kernel("void at::native::elementwise<float, 4>(int*)", 1850, 1900);
  a.step_began(1, 2000);
  a.add_kernel("_Z11gemm_kernelPKfPfi", 2000, 2500);
  a.emit_ready(log.sink());
  EXPECT_TRUE(log.values.empty()) << "step 0 may still get records";
  a.step_began(2, 3000);
  a.add_kernel("_Z11gemm_kernelPKfPfi", 3000, 3100);
  a.emit_ready(log.sink());
  ASSERT_TRUE(log.has("cupti.gpu_busy", 0));
  EXPECT_FALSE(log.has("cupti.gpu_busy", 1));
  EXPECT_DOUBLE_EQ(log.at("cupti.step_ms", 0), 1000 * 1e-6);
  EXPECT_DOUBLE_EQ(log.at("cupti.gpu_busy", 0), (500.0 + 200 + 50) / 1000);
  EXPECT_DOUBLE_EQ(log.at("cupti.kernel_ms", 0), (300.0 + 300 + 200 + 50) * 1e-6);
  EXPECT_DOUBLE_EQ(log.at("cupti.comm_ms", 0), 200 * 1e-6);
  EXPECT_DOUBLE_EQ(log.at("cupti.kernels", 0), 4);
  // Top 2 by time, the rest as "other".
  EXPECT_DOUBLE_EQ(log.at("cupti.kernel_ms/gemm_kernel", 0), 600 * 1e-6);
  EXPECT_DOUBLE_EQ(log.at("cupti.kernel_ms/ncclDevKernel_AllReduce_Sum_f32_RING_LL", 0),
                   200 * 1e-6);
  EXPECT_DOUBLE_EQ(log.at("cupti.kernel_ms/other", 0), 50 * 1e-6);
  EXPECT_EQ(a.early_kernels(), 1u);

  a.add_kernel("_Z11gemm_kernelPKfPfi", 1500, 1550);  // step 0 was stored already
  EXPECT_EQ(a.late_kernels(), 1u);
  a.finish(3500, log.sink());
  EXPECT_DOUBLE_EQ(log.at("cupti.gpu_busy", 1), 0.5);
  EXPECT_DOUBLE_EQ(log.at("cupti.step_ms", 2), 500 * 1e-6);
  EXPECT_DOUBLE_EQ(log.at("cupti.gpu_busy", 2), 0.2);
  EXPECT_EQ(a.pending_steps(), 0u);
}

TEST(KernelAggregator, KernelNamesStayBounded) {
  kernel_aggregator a(8, 3);
  scalar_log log;
  a.step_began(0, 0);
  for (int i = 0; i < 6; ++i)
    a.add_kernel(("kernel" + std::to_string(i)).c_str(), uint64_t(i) * 100,
                 uint64_t(i) * 100 + 10 + uint64_t(i));
  a.finish(1000, log.sink());
  int names = 0;
  for (const auto &[k, v] : log.values) names += k.first.rfind("cupti.kernel_ms/", 0) == 0;
  EXPECT_EQ(names, 4) << "3 names and other";
  EXPECT_TRUE(log.has("cupti.kernel_ms/kernel5", 0));
  EXPECT_NEAR(log.at("cupti.kernel_ms/other", 0), (10 + 11 + 12) * 1e-6, 1e-12);
}

TEST(KernelAggregator, ShortNames) {
  EXPECT_EQ(kernel_aggregator::short_kernel_name("_Z11gemm_kernelPKfPfi"), "gemm_kernel");
  EXPECT_EQ(kernel_aggregator::short_kernel_name("void at::native::foo<float, 4>(int*)"),
            "at::native::foo");
  EXPECT_EQ(kernel_aggregator::short_kernel_name("plain_name"), "plain_name");
  EXPECT_EQ(kernel_aggregator::short_kernel_name(std::string(200, 'k').c_str()).size(), 80u);
  EXPECT_TRUE(kernel_aggregator::is_communication_kernel("ncclKernel_AllGather_RING"));
  EXPECT_FALSE(kernel_aggregator::is_communication_kernel("gemm_kernel"));
}

}  // namespace
}  // namespace ttap::inject

namespace ttap::inject {
namespace {

TEST(RangePath, DefaultDomainRangesNestOtherDomainsStayOut) {
  std::string seen;
  std::thread t([&] {  // a thread of its own: a fresh stack
    int other_domain = 0;
    range_pushed(nullptr, "forward");
    range_pushed(&other_domain, "mylib");
    range_pushed(nullptr, "");
    seen = std::string(range_path()) + "|";
    range_popped(&other_domain);
    range_popped(nullptr);
    seen += std::string(range_path()) + "|";
    range_pushed(nullptr, std::string(100, 'x').c_str());  // names are cut at 64 bytes
    seen += std::string(range_path()).size() == 7 + 1 + 64 ? "cut|" : "not cut|";
    range_popped(nullptr);
    range_popped(nullptr);
    seen += std::string(range_path());
  });
  t.join();
  EXPECT_EQ(seen, "forward/unnamed|forward|cut|");
}

TEST(RangePath, PastTheDepthBoundPushesAreCountedNotStored) {
  std::string deepest, after;
  std::thread t([&] {
    for (int i = 0; i < 200; ++i) range_pushed(nullptr, "r");
    deepest = std::string(range_path());
    for (int i = 0; i < 200; ++i) range_popped(nullptr);
    after = std::string(range_path());
  });
  t.join();
  EXPECT_EQ(deepest, "r/r/r/r/r/r/r/r");  // eight names at most
  EXPECT_EQ(after, "");
}

// A hooked NVTX call from another thread_local's destructor, which runs after the range state's
// own destruction when that state was made later (its destructor registered later). The state
// has no destructor, so the call finds it whole (ASan reported a use after free before).
std::string g_path_at_thread_exit;

struct pushes_at_thread_exit {
  ~pushes_at_thread_exit() {
    range_pushed(nullptr, "late");
    g_path_at_thread_exit = std::string(range_path());
    range_popped(nullptr);
  }
};

TEST(RangePath, UsableFromAThreadLocalDestructorAtThreadExit) {
  std::thread t([] {
    thread_local pushes_at_thread_exit guard;
    (void)&guard;  // made now, before the thread's first range
    range_pushed(nullptr, "early");
    range_popped(nullptr);
  });
  t.join();
  EXPECT_EQ(g_path_at_thread_exit, "late");
}

}  // namespace
}  // namespace ttap::inject
