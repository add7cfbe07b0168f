// The body shared by the three tensor-file harnesses: read, touch every byte of every view,
// summarize on the cpu executor (what `ttap stats` does next); a refused file must be a file_error.
#pragma once

#include <vector>

#include "kernels/cpu/cpu_executor.h"
#include "tests/fuzz/fuzz_support.h"

namespace ttap::fuzz {

template <class Read>
void fuzz_tensor_file(Read read) {
  formats::tensor_list list;
  try {
    list = read();
  } catch (const formats::file_error &) {
    return;  // refused with a message: the expected outcome for most inputs
  }
  touch_views(list);
  std::vector<tensor_view> views;
  for (const auto &t : list.tensors) views.push_back(t.view);
  std::vector<summary> out(views.size());
  // One thread and no SIMD: fuzzing wants many small inputs per second, not throughput.
  static cpu_executor executor({1, true, false});
  executor.summarize(views, out);
}

}  // namespace ttap::fuzz
