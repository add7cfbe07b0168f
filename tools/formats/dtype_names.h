// Parsing element type names as ttap accepts them. The names themselves, for output and for
// --dtype, are the one table in kernels/dtype.h (dtype_name, dtype_option_name).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "kernels/dtype.h"

namespace ttap::formats {

// Parses a --dtype value. Case and underscores do not matter, so "f32", "F32", "bf16", "f8e4m3"
// and "F8_E4M3" are all accepted; nullopt for anything else.
std::optional<dtype> parse_dtype_option(std::string_view text);

// The accepted --dtype spellings, for usage messages: "f32, f16, bf16, f8e4m3, f8e5m2, f64".
std::string dtype_option_list();

}  // namespace ttap::formats
