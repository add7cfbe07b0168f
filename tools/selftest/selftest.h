// `ttap selftest`: one command that says whether tensortap is right, and how fast, on the machine
// it runs on. It lists the CUDA devices and libraries it finds, checks the fused kernel on a device
// backend against the cpu executor, measures bandwidth and runs the C API end to end on a stream.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "runtime/backends/device.h"

namespace ttap::selftest {

enum class outcome { pass, fail, skipped };
const char *outcome_name(outcome o);  // "PASS", "FAIL", "SKIPPED"

struct check_result {
  std::string part;  // "emulated" (cpu vs emulated kernel) or "cuda"
  std::string name;  // what was checked
  outcome result = outcome::skipped;
  std::string detail;  // the mismatch, the measurement, or why it was skipped
};

struct library_info {
  bool found = false;
  std::string version;  // "" when found but its version is unknown
};

struct inventory {
  cuda_inventory cuda;
  library_info nccl, cupti;
};

struct options {
  // Bytes of each dtype for the bandwidth measurement (the 1 GiB on a GPU).
  size_t bandwidth_bytes = size_t(1) << 30;
  // Test-only: run the cuda part on the emulated device through the same device interface, so the
  // cuda branch's own logic is tested without the hardware.
  bool cuda_on_emulated = false;
  // Test-only fault: flip one histogram count of the cuda part's first device result, which the
  // comparison must catch.
  bool flip_histogram_count = false;
  // Test-only: the NCCL library the group and injection checks load instead of libnccl.so.2 (the
  // tests' stand-in, several ranks in one process over host memory, for the cuda branch on the
  // emulated device).
  std::string nccl_library;
  // Test-only faults: one value of rank 1's tensor changed after the reference summary was taken
  // (the group check must catch it); the injection child started without NVTX_INJECTION64_PATH
  // (the injection check must find its tensors unnamed by their NVTX ranges).
  bool break_group = false;
  bool break_injection = false;
};

struct report {
  inventory found;
  bool cuda_exercised = false;
  std::string cuda_device;           // description of the device the cuda part ran on
  std::string cuda_not_exercised;    // why not (the driver's message), when it was not
  bool group_exercised = false;      // the NCCL group check ran (passed or failed)
  bool injection_exercised = false;  // the injection check started its child
  std::vector<check_result> checks;
  bool passed() const;  // no check failed
};

// What this machine has: never fails, never needs a GPU.
inventory take_inventory();

// Runs every part that this machine allows; `progress` (may be empty) sees each check as it ends.
report run(const options &opts, const std::function<void(const check_result &)> &progress = {});

// The child of the injection check (`ttap selftest --injection-child`, started by run() with the
// hooks' environment): a few NVTX-ranged steps, each an ncclAllReduce of a known buffer (on the
// GPU, or in host memory on the emulated device) and, on a GPU, one fused-kernel launch over it.
// Returns its exit status: 0 when every call succeeded, 2 with a line on stderr otherwise.
int run_injection_child(const options &opts);

}  // namespace ttap::selftest
