// Parsing dtype names through the one name table (kernels/dtype.h), so readers, the CLI and the
// tests cannot disagree on a name.
#include "tools/formats/dtype_names.h"

#include <cctype>

namespace ttap::formats {

std::optional<dtype> parse_dtype_option(std::string_view text) {
  std::string folded;
  for (char c : text) {
    if (c != '_') folded += char(std::tolower(static_cast<unsigned char>(c)));
  }
  for (const auto &row : kDtypeNames) {
    if (row.option == folded) return row.type;
  }
  return std::nullopt;
}

std::string dtype_option_list() {
  std::string out;
  for (const auto &row : kDtypeNames) {
    if (!out.empty()) out += ", ";
    out += row.option;
  }
  return out;
}

}  // namespace ttap::formats
