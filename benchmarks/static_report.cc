// Builds the static report from the build-time PTX (fused kernel + per-dtype probes) and the
// `ptxas -v` output for each target architecture.
#include "benchmarks/static_report.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "benchmarks/ptx_analysis.h"
#include "kernels/fused_stats_params.h"

namespace ttap::bench {
namespace {

// H100 SXM figures the projection uses: HBM3 bandwidth, SM count, boost clock, and one warp
// instruction issued per scheduler per clock (four schedulers per SM).
constexpr double kHbmBytesPerSecond = 3.35e12;
constexpr double kThreadInstrPerSecond = 132 * 4 * 32 * 1.755e9;

const char *const kArchs[] = {"sm_80", "sm_90", "sm_100"};
const char *const kKernelEntry = "_ZN4ttap18fused_stats_kernelENS_18fused_stats_paramsE";

struct probe {
  const char *dtype;
  int elem_bytes;
  int elems_per_vector;
};
const probe kProbes[] = {
    {"f32", 4, 4}, {"bf16", 2, 8}, {"f16", 2, 8}, {"f8e4m3", 1, 16}, {"f8e5m2", 1, 16}};

bool read_file(const std::string &path, std::string &out) {
  std::ifstream in(path);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

}  // namespace

std::vector<std::string> missed_static_targets(const static_report &report) {
  std::vector<std::string> missed;
  char line[256];
  for (const auto &r : report.rows) {
    if (r.spill_bytes > 0) {
      std::snprintf(line, sizeof line, "%s %s: %d spill bytes", r.arch.c_str(), r.dtype.c_str(),
                    r.spill_bytes);
      missed.push_back(line);
    }
    if (r.max_instr_per_elem < 0) continue;  // not counted (fp64)
    if (r.ptx_instr_per_elem < 0) {
      missed.push_back(r.arch + " " + r.dtype + ": main loop not found (" + r.note + ")");
    } else if (r.ptx_instr_per_elem > r.max_instr_per_elem) {
      std::snprintf(line, sizeof line,
                    "%s %s: %.1f PTX instructions per element, budget %.1f (%.3f ms/GB against a "
                    "floor of %.3f)",
                    r.arch.c_str(), r.dtype.c_str(), r.ptx_instr_per_elem, r.max_instr_per_elem,
                    r.projected_ms_per_gb, r.bandwidth_ms_per_gb);
      missed.push_back(line);
    }
  }
  return missed;
}

std::string default_static_dir() {
#ifdef TTAP_HAVE_STATIC_PTX
  // The running program's directory is bin/ in the build tree and in an install prefix alike.
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "";
  return (exe.parent_path().parent_path() / "share" / "tensortap" / "static").string();
#else
  return "";
#endif
}

static_report make_static_report(const std::string &dir) {
  static_report report;
  if (dir.empty()) {
    report.error =
        "this ttap was built without nvcc, so there is no device code to inspect "
        "(install the CUDA toolkit and reconfigure, or pass --ptx-dir)";
    return report;
  }
  for (const char *arch : kArchs) {
    std::string ptx, ptxas;
    std::string base = dir + "/fused_stats_" + arch;
    if (!read_file(base + ".ptx", ptx) || !read_file(base + ".ptxas.txt", ptxas)) {
      report.error = "missing " + base + ".ptx or .ptxas.txt (build the ttap_static_ptx target)";
      return report;
    }
    auto resources = parse_ptxas_verbose(ptxas);
    auto kernel_it = resources.find(kKernelEntry);
    if (kernel_it == resources.end()) {
      report.error = "no resource line for the fused kernel in " + base + ".ptxas.txt";
      return report;
    }
    const ptxas_resources &kernel = kernel_it->second;
    int kernel_spills = kernel.spill_store_bytes + kernel.spill_load_bytes;
    for (const probe &p : kProbes) {
      std::string entry = "ttap_probe_";
      entry += p.dtype;
      loop_count loop = count_main_loop(ptx, entry);
      const ptxas_resources &pr = resources[entry];
      static_row row;
      row.name = "fused_stats_kernel";
      row.dtype = p.dtype;
      row.arch = arch;
      row.registers = kernel.registers;
      row.spill_bytes = kernel_spills + pr.spill_store_bytes + pr.spill_load_bytes;
      row.probe_registers = pr.registers;
      row.bandwidth_ms_per_gb = 1e9 / kHbmBytesPerSecond * 1e3;
      // Instructions per element that keep the issue time within the slack of the memory time.
      row.max_instr_per_elem =
          kMemoryFloorSlack * p.elem_bytes / kHbmBytesPerSecond * kThreadInstrPerSecond;
      if (loop.found && loop.vector_loads > 0) {
        double elems = double(loop.vector_loads) * p.elems_per_vector;
        row.ptx_instr_per_elem = loop.instructions / elems;
        double elems_per_gb = 1e9 / p.elem_bytes;
        row.issue_ms_per_gb = elems_per_gb * row.ptx_instr_per_elem / kThreadInstrPerSecond * 1e3;
      } else {
        row.ptx_instr_per_elem = -1;
        row.issue_ms_per_gb = -1;
        row.note = loop.error;
      }
      row.projected_ms_per_gb = std::max(row.bandwidth_ms_per_gb, row.issue_ms_per_gb);
      report.rows.push_back(row);
    }
    static_row f64;
    f64.name = "fused_stats_kernel";
    f64.dtype = "f64";
    f64.arch = arch;
    f64.registers = kernel.registers;
    f64.spill_bytes = kernel_spills;
    f64.probe_registers = -1;
    f64.ptx_instr_per_elem = -1;
    f64.bandwidth_ms_per_gb = 1e9 / kHbmBytesPerSecond * 1e3;
    f64.issue_ms_per_gb = -1;
    f64.projected_ms_per_gb = f64.bandwidth_ms_per_gb;
    f64.max_instr_per_elem = -1;
    f64.note = "fp64 takes a scalar two-pass path (scale, then sum); its loop is not counted";
    report.rows.push_back(f64);
  }
  report.available = true;
  return report;
}

}  // namespace ttap::bench
