// The backend table of `ttap stats`: the cpu executor, and the fused device kernel on the SIMT
// emulator (emulated) or on a GPU (cuda). Every backend summarizes all tensors in one call: one
// executor call, or one kernel launch.
#include "tools/ttap/backend.h"

#include <array>
#include <chrono>
#include <thread>

#include "runtime/sample_ring.h"

namespace ttap::cli {
namespace {

backend_result run_cpu(std::span<const tensor_view> tensors, const backend_options &options) {
  cpu_executor_options executor_options;
  executor_options.threads = options.threads;
  cpu_executor executor(executor_options);
  backend_result result;
  result.summaries.resize(tensors.size());
  // One call for every tensor: the executor splits them all into one list of chunks, so a
  // checkpoint of many small tensors keeps every thread busy.
  executor.summarize(tensors, result.summaries);
  result.launches = 1;
  result.isa = executor.isa();
  result.threads = executor.threads();
  return result;
}

// Frees device memory on every path out of run_on_device.
struct device_buffer {
  device &dev;
  void *ptr = nullptr;
  ~device_buffer() {
    if (ptr) dev.free(ptr);
  }
};

}  // namespace

// A CLI may block; the runtime never does.
backend_result run_on_device(device &dev, std::span<const tensor_view> tensors,
                             bool copy_to_device) {
  std::vector<device_tensor> on_device;
  device_buffer staging{dev};
  if (copy_to_device) {
    size_t total = 0;
    std::vector<size_t> offsets;
    for (const auto &t : tensors) {
      size_t misalign = reinterpret_cast<uintptr_t>(t.data) % 16;
      total = (total + 15) / 16 * 16 + misalign;
      offsets.push_back(total);
      total += t.numel * dtype_size(t.type);
    }
    if (dev.alloc(&staging.ptr, total ? total : 16) != device_status::ok) {
      throw backend_error("cannot allocate " + std::to_string(total) +
                          " bytes of device memory: " + dev.last_error());
    }
    for (size_t i = 0; i < tensors.size(); ++i) {
      auto *dst = static_cast<unsigned char *>(staging.ptr) + offsets[i];
      size_t bytes = tensors[i].numel * dtype_size(tensors[i].type);
      if (bytes && dev.copy_to_device(dst, tensors[i].data, bytes, nullptr) != device_status::ok) {
        throw backend_error("copy to device failed: " + dev.last_error());
      }
      on_device.push_back({dst, tensors[i].type, tensors[i].numel, false});
    }
  } else {
    for (const auto &t : tensors) on_device.push_back({t.data, t.type, t.numel, false});
  }
  sample_ring ring(dev, 1);
  int slot = ring.submit(on_device, nullptr);
  if (slot < 0) throw backend_error("kernel launch failed: " + ring.last_error());
  device_status st;
  while ((st = ring.poll(slot)) == device_status::not_ready) {
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  if (st != device_status::ok)
    throw backend_error("the summary kernel failed: " + ring.last_error());
  backend_result result;
  auto summaries = ring.results(slot);
  result.summaries.assign(summaries.begin(), summaries.end());
  result.launches = ring.launches();
  result.isa = dev.description();
  result.threads = int(std::thread::hardware_concurrency());
  return result;
}

namespace {

backend_result run_emulated(std::span<const tensor_view> tensors, const backend_options &) {
  auto dev = make_emulated_device();
  return run_on_device(*dev, tensors, /*copy_to_device=*/false);
}

backend_result run_cuda(std::span<const tensor_view> tensors, const backend_options &) {
  std::string why_not;
  auto dev = make_cuda_device(&why_not);
  if (!dev) throw backend_error(why_not);
  return run_on_device(*dev, tensors, /*copy_to_device=*/true);
}

constexpr std::array<backend_entry, 3> kBackends{{
    {"cpu", &run_cpu, ""},
    {"emulated", &run_emulated, ""},
    {"cuda", &run_cuda, ""},
}};

}  // namespace

std::span<const backend_entry> backend_table() { return kBackends; }

backend_fn find_backend(std::string_view name) {
  std::string names;
  for (const auto &backend : kBackends) {
    if (backend.name == name) {
      if (backend.run) return backend.run;
      throw backend_error("backend '" + std::string(name) +
                          "' is not available in this build yet (" +
                          std::string(backend.unavailable) + "); use --backend cpu");
    }
    names += (names.empty() ? "" : ", ") + std::string(backend.name);
  }
  throw backend_error("unknown backend '" + std::string(name) + "' (one of " + names + ")");
}

}  // namespace ttap::cli
