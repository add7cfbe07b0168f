// The dtype name table: one row per ttap dtype with its output name and its --dtype spelling.
// Kept in one place so readers, the CLI and the tests cannot disagree on a name.
#include "tools/formats/dtype_names.h"

#include <array>
#include <cctype>

namespace ttap::formats {
namespace {

struct dtype_row {
  dtype type;
  std::string_view name;    // output / safetensors spelling
  std::string_view option;  // canonical --dtype spelling (lower case, no underscores)
};

constexpr std::array<dtype_row, kNumDtypes> kDtypeRows{{
    {dtype::f32, "F32", "f32"},
    {dtype::f16, "F16", "f16"},
    {dtype::bf16, "BF16", "bf16"},
    {dtype::f8e4m3, "F8_E4M3", "f8e4m3"},
    {dtype::f8e5m2, "F8_E5M2", "f8e5m2"},
    {dtype::f64, "F64", "f64"},
}};

}  // namespace

std::string_view dtype_name(dtype t) {
  for (const auto &row : kDtypeRows) {
    if (row.type == t) return row.name;
  }
  return "?";
}

std::string_view dtype_option_name(dtype t) {
  for (const auto &row : kDtypeRows) {
    if (row.type == t) return row.option;
  }
  return "?";
}

std::optional<dtype> parse_dtype_option(std::string_view text) {
  std::string folded;
  for (char c : text) {
    if (c != '_') folded += char(std::tolower(static_cast<unsigned char>(c)));
  }
  for (const auto &row : kDtypeRows) {
    if (row.option == folded) return row.type;
  }
  return std::nullopt;
}

std::string dtype_option_list() {
  std::string out;
  for (const auto &row : kDtypeRows) {
    if (!out.empty()) out += ", ";
    out += row.option;
  }
  return out;
}

}  // namespace ttap::formats
