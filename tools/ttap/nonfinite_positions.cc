// Scanning raw bits for NaN/Inf, per dtype, and printing a flat index as a shaped one.
#include "tools/ttap/nonfinite_positions.h"

#include <cstring>

namespace ttap::cli {
namespace {

// 0: finite; 1: NaN; 2: +Inf; 3: -Inf.
int classify(dtype type, const unsigned char *p) {
  switch (type) {
    case dtype::f32: {
      uint32_t b;
      std::memcpy(&b, p, 4);
      if ((b & 0x7f800000u) != 0x7f800000u) return 0;
      return (b & 0x7fffffu) ? 1 : (b >> 31) ? 3 : 2;
    }
    case dtype::f64: {
      uint64_t b;
      std::memcpy(&b, p, 8);
      if ((b & 0x7ff0000000000000ull) != 0x7ff0000000000000ull) return 0;
      return (b & 0xfffffffffffffull) ? 1 : (b >> 63) ? 3 : 2;
    }
    case dtype::f16: {
      uint16_t b;
      std::memcpy(&b, p, 2);
      if ((b & 0x7c00u) != 0x7c00u) return 0;
      return (b & 0x3ffu) ? 1 : (b >> 15) ? 3 : 2;
    }
    case dtype::bf16: {
      uint16_t b;
      std::memcpy(&b, p, 2);
      if ((b & 0x7f80u) != 0x7f80u) return 0;
      return (b & 0x7fu) ? 1 : (b >> 15) ? 3 : 2;
    }
    case dtype::f8e5m2: {
      const uint8_t b = *p;
      if ((b & 0x7cu) != 0x7cu) return 0;
      return (b & 0x3u) ? 1 : (b >> 7) ? 3 : 2;
    }
    case dtype::f8e4m3:
      return (*p & 0x7fu) == 0x7fu ? 1 : 0;  // no infinities; S.1111.111 is NaN
  }
  return 0;
}

}  // namespace

std::vector<nonfinite_position> find_nonfinite(const tensor_view &t, size_t limit) {
  static constexpr const char *kNames[] = {"", "nan", "+inf", "-inf"};
  std::vector<nonfinite_position> out;
  const auto *p = static_cast<const unsigned char *>(t.data);
  const size_t size = size_t(dtype_size(t.type));
  for (uint64_t i = 0; i < t.numel && out.size() < limit; ++i) {
    const int c = classify(t.type, p + i * size);
    if (c) out.push_back({i, kNames[c]});
  }
  return out;
}

std::string index_text(uint64_t flat, std::span<const uint64_t> shape) {
  if (shape.empty()) return "[" + std::to_string(flat) + "]";
  std::vector<uint64_t> index(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    const uint64_t extent = shape[d] ? shape[d] : 1;
    index[d] = d == 0 ? flat : flat % extent;
    flat /= extent;
  }
  std::string s = "[";
  for (size_t d = 0; d < index.size(); ++d) s += (d ? ", " : "") + std::to_string(index[d]);
  return s + "]";
}

}  // namespace ttap::cli
