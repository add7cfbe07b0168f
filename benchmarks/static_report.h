// The static device-code report behind `ttap bench --static`: for each architecture the CUDA build
// targets, ptxas resource usage of the fused kernel and the PTX instruction count of its main loop
// per dtype, with the runtime that would imply at H100 bandwidth, and the per-dtype targets.
#pragma once

#include <string>
#include <vector>

namespace ttap::bench {

struct static_row {
  std::string name;  // kernel
  std::string dtype;
  std::string arch;  // sm_80, sm_90, sm_100
  int registers;
  int spill_bytes;  // stores + loads
  int probe_registers;
  double ptx_instr_per_elem;   // < 0 when not counted (fp64's scalar path)
  double bandwidth_ms_per_gb;  // 1 GB / 3.35 TB/s
  double issue_ms_per_gb;      // instructions at H100's issue rate
  double projected_ms_per_gb;  // the larger of the two
  // The target: projected within kMemoryFloorSlack of the memory floor, i.e. at most this many
  // instructions per element (the budget scales with the element size). < 0 when not counted.
  double max_instr_per_elem;
  std::string note;
};

// How far above the memory floor (bytes / HBM bandwidth) a dtype's projection may be: 10%.
inline constexpr double kMemoryFloorSlack = 1.10;

struct static_report {
  bool available = false;
  std::string error;  // why not available
  std::vector<static_row> rows;
};

// Reads the PTX and ptxas output generated at build time from `dir` (see
// benchmarks/CMakeLists.txt).
static_report make_static_report(const std::string &dir);

// The targets `ttap bench --static --check` holds every row to: zero spills, and a counted main
// loop within its instruction budget. One line per miss, empty when every target is met.
std::vector<std::string> missed_static_targets(const static_report &report);

// Where the build wrote them, found from the running program: <its directory>/../share/tensortap/
// static, which the build tree and an install prefix both have ("" when ttap was built without
// nvcc). `ttap bench --ptx-dir` names another.
std::string default_static_dir();

}  // namespace ttap::bench
