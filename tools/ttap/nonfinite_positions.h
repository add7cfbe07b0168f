// Where a tensor's NaN and Inf values are (ttap stats --where-nonfinite): the first positions in
// memory order, as multi-dimensional indices of the tensor's shape.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_executor.h"

namespace ttap::cli {

struct nonfinite_position {
  uint64_t flat = 0;      // element index in memory (row-major) order
  const char *what = "";  // "nan", "+inf", "-inf"
};

// The first `limit` non-finite elements of `t`, read from its raw bits (no conversion that could
// hide a NaN payload, fp8 e4m3's NaN included).
std::vector<nonfinite_position> find_nonfinite(const tensor_view &t, size_t limit);

// The row-major index of element `flat` in `shape`, as "[2, 5]" ("[37]" for an empty shape).
std::string index_text(uint64_t flat, std::span<const uint64_t> shape);

}  // namespace ttap::cli
