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
};

struct report {
  inventory found;
  bool cuda_exercised = false;
  std::string cuda_device;         // description of the device the cuda part ran on
  std::string cuda_not_exercised;  // why not (the driver's message), when it was not
  std::vector<check_result> checks;
  bool passed() const;  // no check failed
};

// What this machine has: never fails, never needs a GPU.
inventory take_inventory();

// Runs every part that this machine allows; `progress` (may be empty) sees each check as it ends.
report run(const options &opts, const std::function<void(const check_result &)> &progress = {});

}  // namespace ttap::selftest
