// Shared by the fuzz harnesses: touching every byte a reader's views claim (so AddressSanitizer
// catches a view that reaches past the input), and a scratch directory for harnesses whose code
// under test reads files by path.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "tools/formats/tensor_entry.h"

namespace ttap::fuzz {

// Where touch_views leaves its sum, so the reads are not optimized away.
inline volatile uint8_t g_view_sum = 0;

// Reads every byte of every tensor view.
inline void touch_views(const formats::tensor_list &list) {
  uint8_t sum = 0;
  for (const auto &t : list.tensors) {
    const auto *bytes = static_cast<const uint8_t *>(t.view.data);
    const uint64_t n = t.view.numel * dtype_size(t.view.type);
    for (uint64_t i = 0; i < n; ++i) sum = uint8_t(sum + bytes[i]);
    // Names go to terminals: the escaping must take any bytes.
    (void)formats::printable_name(t.name);
  }
  g_view_sum = sum;
}

// A directory of this process's own under TMPDIR (or /tmp), made once, removed at exit. The
// path lives on the heap, never freed: the exit handler runs after static strings are destroyed.
inline const std::string &scratch_dir() {
  static const std::string *dir = [] {
    const char *tmp = std::getenv("TMPDIR");
    auto *d = new std::string(std::string(tmp && *tmp ? tmp : "/tmp") + "/ttap-fuzz-" +
                              std::to_string(::getpid()));
    std::filesystem::create_directories(*d);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(scratch_dir(), ec);
    });
    return d;
  }();
  return *dir;
}

inline void write_file(const std::string &path, const uint8_t *data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char *>(data), std::streamsize(size));
}

}  // namespace ttap::fuzz
