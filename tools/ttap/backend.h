// The executors `ttap stats` can run on, behind one small function type: a backend takes the views
// and returns their summaries plus how many launches it used. Adding the emulated or cuda backend
// means filling in its row in backend.cc, nothing else.
#pragma once

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/cpu/cpu_executor.h"
#include "runtime/backends/device.h"

namespace ttap::cli {

struct backend_options {
  int threads = 0;  // host worker threads; 0 = every hardware thread
};

struct backend_result {
  std::vector<summary> summaries;  // summaries[i] describes tensors[i]
  uint64_t launches = 0;           // executor calls or kernel launches used for all tensors
  std::string isa;                 // what ran the hot loop ("avx512", "portable", later "sm_90")
  int threads = 0;                 // host threads that did the work
};

using backend_fn = backend_result (*)(std::span<const tensor_view> tensors,
                                      const backend_options &options);

struct backend_entry {
  std::string_view name;         // the --backend value
  backend_fn run;                // nullptr when this build does not have it
  std::string_view unavailable;  // why, when run is nullptr
};

// A --backend value that names no backend, or one this build lacks. The message says which.
class backend_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One sample of every tensor on `dev` with the fused kernel, waited for. With copy_to_device the
// tensors are first copied into device memory at the same offset modulo 16, so misaligned views
// stay misaligned. Throws backend_error naming the failed device call.
backend_result run_on_device(device &dev, std::span<const tensor_view> tensors,
                             bool copy_to_device);

// Every backend name, built or not, in the order help text lists them.
std::span<const backend_entry> backend_table();

// The backend called `name`. Throws backend_error when the name is unknown (the message lists the
// names) or the backend is not available in this build (the message says why).
backend_fn find_backend(std::string_view name);

}  // namespace ttap::cli
