// `ttap selftest`: runs the checks, prints what was found and a PASS/FAIL/SKIPPED table (or one
// JSON object with --json), and exits 1 on any mismatch.
#include "tools/selftest/selftest_command.h"

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "tools/selftest/selftest.h"
#include "tools/ttap/verb_errors.h"

namespace ttap::selftest {
namespace {

struct selftest_args {
  bool json = false;
  bool injection_child = false;
  double bandwidth_mib = 1024;
  options opts;
};

std::string version_string(int v) {  // 13000 -> "13.0"
  return v ? std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10) : "unknown";
}

nlohmann::json to_json(const report &r) {
  nlohmann::json gpus = nlohmann::json::array();
  for (const auto &g : r.found.cuda.gpus) {
    gpus.push_back({{"ordinal", g.ordinal},
                    {"name", g.name},
                    {"compute_capability", std::to_string(g.major) + "." + std::to_string(g.minor)},
                    {"memory_bytes", g.memory_bytes},
                    {"multiprocessors", g.multiprocessors},
                    {"peak_bandwidth_gbps", g.peak_bytes_per_second / 1e9}});
  }
  auto library = [](const library_info &l) {
    return nlohmann::json{{"found", l.found}, {"version", l.version}};
  };
  nlohmann::json checks = nlohmann::json::array();
  for (const auto &c : r.checks) {
    checks.push_back({{"part", c.part},
                      {"check", c.name},
                      {"result", outcome_name(c.result)},
                      {"detail", c.detail}});
  }
  return {{"found",
           {{"cuda_driver", r.found.cuda.driver_version},
            {"cuda_runtime", r.found.cuda.runtime_version},
            {"cuda_error", r.found.cuda.error},
            {"gpus", gpus},
            {"nccl", library(r.found.nccl)},
            {"cupti", library(r.found.cupti)}}},
          {"parts",
           {{"emulated", true},
            {"cuda", r.cuda_exercised},
            {"nccl_group", r.group_exercised},
            {"injection", r.injection_exercised}}},
          {"cuda_device", r.cuda_device},
          {"cuda_not_exercised", r.cuda_not_exercised},
          {"checks", checks},
          {"passed", r.passed()}};
}

void print_found(const inventory &found) {
  std::printf("found:\n");
  if (found.cuda.gpus.empty()) {
    std::printf("  CUDA: no usable device (%s); runtime %s\n", found.cuda.error.c_str(),
                version_string(found.cuda.runtime_version).c_str());
  } else {
    std::printf("  CUDA driver %s, runtime %s\n", version_string(found.cuda.driver_version).c_str(),
                version_string(found.cuda.runtime_version).c_str());
  }
  for (const auto &g : found.cuda.gpus) {
    std::printf("  GPU %d: %s, sm_%d%d, %.1f GiB, %d SMs, peak memory bandwidth %.0f GB/s\n",
                g.ordinal, g.name.c_str(), g.major, g.minor, g.memory_bytes / 1073741824.0,
                g.multiprocessors, g.peak_bytes_per_second / 1e9);
  }
  auto library = [](const char *name, const library_info &l) {
    std::printf("  %s: %s%s%s\n", name, l.found ? "found" : "not found",
                l.version.empty() ? "" : ", version ", l.version.c_str());
  };
  library("NCCL", found.nccl);
  library("CUPTI", found.cupti);
}

int run_command(selftest_args &args) {
  if (args.injection_child) return run_injection_child(args.opts);
  args.opts.bandwidth_bytes = size_t(args.bandwidth_mib * 1048576);
  std::function<void(const check_result &)> progress;
  if (!args.json) {
    print_found(take_inventory());
    std::printf("checks:\n  %-9s %-8s %-58s %s\n", "part", "result", "check", "detail");
    std::fflush(stdout);
    progress = [](const check_result &c) {
      std::printf("  %-9s %-8s %-58s %s\n", c.part.c_str(), outcome_name(c.result), c.name.c_str(),
                  c.detail.c_str());
      std::fflush(stdout);
    };
  }
  report r = run(args.opts, progress);
  if (args.json) {
    std::printf("%s\n", to_json(r).dump(2).c_str());
  } else {
    int counts[3] = {0, 0, 0};
    for (const auto &c : r.checks) ++counts[int(c.result)];
    if (!r.cuda_exercised)
      std::printf("the cuda backend was not exercised: %s\n", r.cuda_not_exercised.c_str());
    std::printf("result: %s (%d passed, %d failed, %d skipped)\n", r.passed() ? "PASS" : "FAIL",
                counts[int(outcome::pass)], counts[int(outcome::fail)],
                counts[int(outcome::skipped)]);
  }
  return r.passed() ? 0 : 1;
}

}  // namespace

void add_selftest_command(CLI::App &app) {
  auto args = std::make_shared<selftest_args>();
  auto *cmd = app.add_subcommand(
      "selftest",
      "Check tensortap on this machine: the fused kernel on every backend found against the cpu "
      "executor, bandwidth, the C API on a stream; exit 1 on any mismatch");
  cmd->add_flag("--json", args->json, "Print one JSON object instead of text");
  cmd->add_option("--bandwidth-mib", args->bandwidth_mib,
                  "MiB per dtype for the bandwidth measurement on a GPU")
      ->check(CLI::Range(1.0, 65536.0))
      ->capture_default_str();
  // Test-only switches (hidden): the cuda part on the emulated device, and a planted fault.
  cmd->add_flag("--test-cuda-on-emulated", args->opts.cuda_on_emulated)->group("");
  cmd->add_flag("--test-flip-histogram-count", args->opts.flip_histogram_count)->group("");
  cmd->add_option("--test-nccl-library", args->opts.nccl_library)->group("");
  cmd->add_flag("--test-break-group", args->opts.break_group)->group("");
  cmd->add_flag("--test-break-injection", args->opts.break_injection)->group("");
  // The injection check's child (hidden): started by the check itself, under the hooks.
  cmd->add_flag("--injection-child", args->injection_child)->group("");
  cmd->callback([args] {
    // A check that throws (out of memory on the host, say) is an error line and status 2, never
    // a crash: the checks' own mismatches are status 1.
    int rc = cli::run_verb(stderr, "selftest", "selftest", [&] { return run_command(*args); });
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace ttap::selftest
