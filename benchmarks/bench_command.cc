// `ttap bench`: runs the benchmark suite and prints GB/s and ratios against the baseline measured
// in the same run, as a table or as JSON for machines.
#include "benchmarks/bench_command.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "benchmarks/cpu_executor_bench.h"
#include "benchmarks/runtime_bench.h"
#include "benchmarks/static_report.h"
#include "benchmarks/store_bench.h"
#include "benchmarks/webhook_bench.h"
#include "benchmarks/x86_loop_analysis.h"

namespace ttap {
namespace {

struct bench_args {
  double size_mib = 256;
  int threads = 0;
  int repetitions = 7;
  std::vector<std::string> dtypes = {"bf16", "f32"};
  bool portable = false;
  bool cpu_time = false;
  bool json = false;
  bool static_checks = false;
  bool runtime = false;
  std::vector<std::string> runtime_only;  // --only: the --runtime groups to run (empty = all)
  bool webhook = false;
  bool static_cpu = false;
  std::string binary;  // --static-cpu: the file to disassemble ("" = this ttap)
  bool check = false;
  std::string ptx_dir = bench::default_static_dir();
};

// The runtime's host-side costs: ttap_step (not due / due with N device tensors) and the store's
// ingest rate and size per tensor-sample, each against the issue's target.
int run_runtime(const bench_args &args) {
  auto print_line = args.json ? nullptr : +[](const char *line) {
    std::puts(line);
    std::fflush(stdout);
  };
  if (!args.json) {
    std::printf("runtime host costs (median per call; device work excluded%s)\n",
                args.cpu_time ? "; timed by the calling thread's CPU time" : "");
  }
  auto wanted = [&](const char *group) {
    return args.runtime_only.empty() ||
           std::find(args.runtime_only.begin(), args.runtime_only.end(), group) !=
               args.runtime_only.end();
  };
  bench::step_cost_groups groups;
  groups.not_due = wanted("not-due");
  groups.host = wanted("host");
  groups.device = wanted("device");
  groups.verdict = wanted("verdict");
  std::vector<bench::step_cost> steps =
      bench::run_step_cost_bench(print_line, args.cpu_time, groups);
  const bool with_store = wanted("store");
  bench::store_bench_report store;
  if (with_store) {
    std::fprintf(stderr, "ttap bench --runtime: measuring the store's ingest...\n");
    store = bench::run_store_bench(bench::store_bench_options{});
  }
  if (!store.error.empty()) {
    std::fprintf(stderr, "ttap bench --runtime: the store failed: %s\n", store.error.c_str());
    return 2;
  }
  if (args.json) {
    nlohmann::json out;
    out["benchmark"] = "runtime";
    out["clock"] = args.cpu_time ? "thread_cpu_time" : "wall";
    out["step_cost"] = nlohmann::json::array();
    for (const auto &c : steps) {
      const bool has_target = c.target_ns < 1e300;  // else a reference row for another's target
      nlohmann::json row = {
          {"call", c.call},
          {"case", c.what},
          {"tensors", c.tensors},
          {"ns_per_call", c.ns_per_call},
          {"target_ns", has_target ? nlohmann::json(c.target_ns) : nullptr},
          {"met", has_target ? nlohmann::json(c.ns_per_call <= c.target_ns) : nullptr}};
      if (!c.basis.empty()) row["basis"] = c.basis;
      out["step_cost"].push_back(row);
    }
    if (with_store) out["store"] = {{"rows", store.rows},
                    {"rows_per_second", store.rows_per_second},
                    {"bytes_per_sample", store.bytes_per_sample},
                    {"hist_bins_per_sample", store.hist_bins_per_sample},
                    {"target_rows_per_second", store.target_rows_per_second},
                    {"target_bytes_per_sample", store.target_bytes_per_sample},
                    {"met", store.met}};
    std::printf("%s\n", out.dump(2).c_str());
  } else if (with_store) {
    std::printf(
        "  store ingest %.0f rows/s (target >= %.0f), %.1f bytes per tensor-sample (target <= "
        "%.0f), "
        "%.1f histogram bins per sample: %s\n",
        store.rows_per_second, store.target_rows_per_second, store.bytes_per_sample,
        store.target_bytes_per_sample, store.hist_bins_per_sample, store.met ? "met" : "MISSED");
  }
  return 0;
}

// The alert webhook's cost to the training thread: ttap_step with and without a webhook that is
// delivering a burst of 10,000 alerts to a 100 ms receiver; close() against a dead receiver.
int run_webhook(const bench_args &args) {
  bench::webhook_bench_options o;
  if (!args.json)
    std::printf(
        "alert webhook: %d alerts offered in a burst to a receiver answering in %.0f ms\n"
        "  ttap_step median while it delivers (%d host tensors x %d f32, %.0f s per run, %d "
        "alternating runs each):\n",
        o.alerts, o.receiver_delay_s * 1e3, o.tensors, o.numel, o.measure_s, o.runs);
  std::fflush(stdout);
  bench::webhook_bench_report r = bench::run_webhook_bench(o);
  if (!r.error.empty()) {
    std::fprintf(stderr, "ttap bench --webhook: %s\n", r.error.c_str());
    return 2;
  }
  const bool met = r.ratio <= 1.05;
  if (args.json) {
    nlohmann::json out = {{"benchmark", "webhook"},
                          {"alerts", o.alerts},
                          {"receiver_delay_s", o.receiver_delay_s},
                          {"step_ns_without", r.step_ns_without},
                          {"step_ns_with", r.step_ns_with},
                          {"median_without_ns", r.median_without_ns},
                          {"median_with_ns", r.median_with_ns},
                          {"ratio", r.ratio},
                          {"met", met},
                          {"sink_summary", r.sink_summary},
                          {"receiver_requests", r.delivered_requests},
                          {"rss_growth_without_mib", r.rss_growth_without_mib},
                          {"rss_growth_with_mib", r.rss_growth_with_mib},
                          {"dead_receiver_timeout_ms", o.dead_timeout_ms},
                          {"dead_receiver_close_s", r.dead_close_s},
                          {"close_without_webhook_s", r.close_without_s},
                          {"dead_receiver_summary", r.dead_summary}};
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  auto runs = [](const std::vector<double> &v) {
    std::string s;
    for (double x : v) s += (s.empty() ? "" : ", ") + std::to_string(int(x));
    return s;
  };
  std::printf("    without webhook  %8.0f ns   (runs: %s)\n", r.median_without_ns,
              runs(r.step_ns_without).c_str());
  std::printf("    with webhook     %8.0f ns   (runs: %s)\n", r.median_with_ns,
              runs(r.step_ns_with).c_str());
  std::printf("    ratio %.3f   target <= 1.05: %s\n", r.ratio, met ? "met" : "MISSED");
  std::printf("  the sink, last run: %s\n", r.sink_summary.c_str());
  std::printf(
      "  memory: RSS growth from the burst to close, largest run: %.1f MiB without, "
      "%.1f MiB with\n",
      r.rss_growth_without_mib, r.rss_growth_with_mib);
  std::printf(
      "  receiver that never answers, alert_webhook_timeout_ms=%.0f: ttap_close took "
      "%.2f s (without a webhook: %.2f s)\n    %s\n",
      o.dead_timeout_ms, r.dead_close_s, r.close_without_s, r.dead_summary.c_str());
  return 0;
}

int run_static(const bench_args &args) {
  bench::static_report report = bench::make_static_report(args.ptx_dir);
  if (!report.available) {
    std::fprintf(stderr, "ttap bench --static: %s\n", report.error.c_str());
    return 2;
  }
  std::vector<std::string> failures = bench::missed_static_targets(report);
  auto maybe = [](double v) { return v < 0 ? nlohmann::json(nullptr) : nlohmann::json(v); };
  if (args.json) {
    nlohmann::json rows = nlohmann::json::array();
    for (const auto &r : report.rows) {
      nlohmann::json row = {
          {"name", r.name},
          {"dtype", r.dtype},
          {"arch", r.arch},
          {"registers", r.registers},
          {"spill_bytes", r.spill_bytes},
          {"ptx_instr_per_elem", maybe(r.ptx_instr_per_elem)},
          {"projected_ms_per_gb", r.projected_ms_per_gb},
          {"bandwidth_ms_per_gb", r.bandwidth_ms_per_gb},
          {"issue_ms_per_gb", maybe(r.issue_ms_per_gb)},
          {"max_instr_per_elem", maybe(r.max_instr_per_elem)},
          {"probe_registers",
           r.probe_registers < 0 ? nlohmann::json(nullptr) : nlohmann::json(r.probe_registers)}};
      if (!r.note.empty()) row["note"] = r.note;
      rows.push_back(row);
    }
    nlohmann::json out = {{"benchmark", "static"},
                          {"assumptions",
                           "H100 SXM: 3.35 TB/s, 132 SMs x 4 schedulers at 1.755 GHz, one "
                           "instruction per scheduler per clock"},
                          {"kernels", rows},
                          {"failures", failures}};
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    std::printf("%-19s %-7s %-7s %5s %6s %11s %7s %13s\n", "kernel", "arch", "dtype", "regs",
                "spills", "instr/elem", "budget", "ms/GB@H100");
    for (const auto &r : report.rows) {
      char instr[32] = "-", budget[32] = "-";
      if (r.ptx_instr_per_elem >= 0)
        std::snprintf(instr, sizeof instr, "%.1f", r.ptx_instr_per_elem);
      if (r.max_instr_per_elem >= 0)
        std::snprintf(budget, sizeof budget, "%.1f", r.max_instr_per_elem);
      std::printf("%-19s %-7s %-7s %5d %6d %11s %7s %13.3f\n", r.name.c_str(), r.arch.c_str(),
                  r.dtype.c_str(), r.registers, r.spill_bytes, instr, budget,
                  r.projected_ms_per_gb);
    }
    std::printf(
        "targets: zero spills; every counted dtype within %.0f%% of the memory floor (%.3f ms/GB), "
        "i.e. instructions per element within its budget: %s\n",
        (bench::kMemoryFloorSlack - 1) * 100,
        report.rows.empty() ? 0.0 : report.rows.front().bandwidth_ms_per_gb,
        failures.empty() ? "met" : "MISSED");
    for (const auto &f : failures) std::printf("  %s\n", f.c_str());
  }
  return args.check && !failures.empty() ? 1 : 0;
}

// The cpu executor's batch loop per dtype, counted in the disassembly (the x86 analogue of
// --static's PTX count).
int run_static_cpu(const bench_args &args) {
  bench::x86_loop_report report = bench::make_x86_loop_report(args.binary);
  if (!report.available) {
    std::fprintf(stderr, "ttap bench --static-cpu: %s\n", report.error.c_str());
    return 2;
  }
  if (args.json) {
    nlohmann::json rows = nlohmann::json::array();
    for (const auto &r : report.rows) {
      rows.push_back({{"dtype", r.dtype},
                      {"symbol", r.symbol},
                      {"loop_instructions", r.instructions},
                      {"vector_instructions", r.vector_instructions},
                      {"elements_per_iteration", bench::kElemsPerBatch},
                      {"instr_per_elem", r.instr_per_elem},
                      {"used_here", r.used_here}});
    }
    nlohmann::json out = {{"benchmark", "static_cpu"}, {"binary", report.binary}, {"loops", rows}};
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::printf("cpu executor batch loop, AVX-512 (objdump of %s; %d elements per iteration)\n",
              report.binary.c_str(), bench::kElemsPerBatch);
  std::printf("%-9s %12s %8s %11s  %s\n", "dtype", "instructions", "vector", "instr/elem",
              "used on this CPU");
  for (const auto &r : report.rows) {
    std::printf("%-9s %12d %8d %11.2f  %s\n", r.dtype.c_str(), r.instructions,
                r.vector_instructions, r.instr_per_elem, r.used_here ? "yes" : "no");
  }
  return 0;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "unknown";
}

int run_bench(const bench_args &args) {
  bench::cpu_bench_options options;
  options.bytes = size_t(args.size_mib * 1024 * 1024);
  options.threads = args.threads;
  options.repetitions = args.repetitions;
  options.allow_simd = !args.portable;
  options.cpu_time = args.cpu_time;
  options.dtypes.clear();
  for (const auto &name : args.dtypes) {
    bool found = false;
    for (int t = 0; t < kNumDtypes; ++t) {
      if (name == bench::bench_dtype_name(dtype(t))) {
        options.dtypes.push_back(dtype(t));
        found = true;
      }
    }
    if (!found) {
      std::fprintf(stderr, "ttap bench: unknown dtype '%s' (f32, f16, bf16, f8e4m3, f8e5m2, f64)\n",
                   name.c_str());
      return 2;
    }
  }
  if (!args.json) {
    std::printf("cpu executor vs streaming read, %.0f MiB per dtype, median of %d runs%s\n",
                args.size_mib, args.repetitions,
                args.cpu_time ? ", timed by process CPU time (GB per CPU-second)" : "");
    std::fflush(stdout);
  }
  auto progress = args.json ? nullptr : +[](const char *line) {
    std::puts(line);
    std::fflush(stdout);
  };
  bench::cpu_bench_report report = bench::run_cpu_bench(options, progress);
  if (args.json) {
    nlohmann::json out;
    out["benchmark"] = "cpu_executor";
    out["cpu"] = cpu_model();
    out["threads"] = report.threads;
    out["isa"] = report.isa;
    out["repetitions"] = args.repetitions;
    out["clock"] = args.cpu_time ? "process_cpu_time" : "wall";
    out["results"] = nlohmann::json::array();
    for (const auto &r : report.results) {
      out["results"].push_back({{"dtype", bench::bench_dtype_name(r.type)},
                                {"bytes", r.bytes},
                                {"read_gbps", r.read_gbps},
                                {"executor_gbps", r.executor_gbps},
                                {"ratio", r.ratio}});
    }
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    std::printf("cpu: %s, %d threads, isa %s; target ratio >= 0.80\n", cpu_model().c_str(),
                report.threads, report.isa.c_str());
  }
  return 0;
}

}  // namespace

void add_bench_command(CLI::App &app) {
  auto args = std::make_shared<bench_args>();
  auto *bench = app.add_subcommand(
      "bench", "Measure tensortap's throughput against a streaming-read baseline in the same run");
  bench->add_option("--size", args->size_mib, "Buffer size per dtype in MiB")
      ->check(CLI::Range(1.0, 65536.0))
      ->capture_default_str();
  bench->add_option("--threads", args->threads, "Threads (0 = every hardware thread)")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  bench->add_option("--reps", args->repetitions, "Timed runs of each side (median reported)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  bench->add_option("--dtype", args->dtypes, "Dtypes to measure")
      ->delimiter(',')
      ->capture_default_str();
  bench->add_flag("--portable", args->portable, "Force the portable (non-vector) executor path");
  bench->add_flag("--cpu-time", args->cpu_time,
                  "Time by the process's CPU time instead of the wall clock (work per byte, "
                  "robust to other load on the machine); with --runtime, ttap_step by the "
                  "calling thread's CPU time");
  bench->add_flag("--json", args->json, "Print one JSON object instead of text");
  bench->add_flag(
      "--static", args->static_checks,
      "Report device-code resources and main-loop PTX instructions per element instead");
  bench->add_option("--ptx-dir", args->ptx_dir, "Where the build wrote the PTX for --static");
  bench->add_flag("--check", args->check, "With --static: exit 1 when a target is missed");
  bench->add_flag("--static-cpu", args->static_cpu,
                  "Report the x86 instructions per element of the cpu executor's AVX-512 batch "
                  "loop per dtype (objdump of the binary) instead");
  bench->add_option("--binary", args->binary,
                    "With --static-cpu: the executable or object to disassemble (default: this "
                    "ttap)");
  bench->add_flag(
      "--runtime", args->runtime,
      "Measure the runtime instead: ttap_step host cost and the store's ingest rate and size");
  bench->add_option("--only", args->runtime_only,
                    "With --runtime: only these groups of rows (comma-separated): not-due, host "
                    "(due steps on host tensors), device (emulated device tensors: minutes), "
                    "verdict, store")
      ->delimiter(',')
      ->check(CLI::IsMember({"not-due", "host", "device", "verdict", "store"}));
  bench->add_flag("--webhook", args->webhook,
                  "Measure the alert webhook instead: ttap_step while 10,000 alerts go to a "
                  "100 ms receiver, and close() against a receiver that never answers");
  bench->callback([args] {
    int rc = args->static_checks ? run_static(*args)
             : args->static_cpu  ? run_static_cpu(*args)
             : args->runtime     ? run_runtime(*args)
             : args->webhook     ? run_webhook(*args)
                                 : run_bench(*args);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace ttap
