// Names of element types as ttap prints and accepts them. Output uses the safetensors spelling
// (F32, BF16, F8_E4M3...) everywhere, so a table, a JSON report and a safetensors header agree.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "kernels/dtype.h"

namespace ttap::formats {

// "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2", "F64".
std::string_view dtype_name(dtype t);

// The --dtype spelling: "f32", "f16", "bf16", "f8e4m3", "f8e5m2", "f64".
std::string_view dtype_option_name(dtype t);

// Parses a --dtype value. Case and underscores do not matter, so "f32", "F32", "bf16", "f8e4m3"
// and "F8_E4M3" are all accepted; nullopt for anything else.
std::optional<dtype> parse_dtype_option(std::string_view text);

// The accepted --dtype spellings, for usage messages: "f32, f16, bf16, f8e4m3, f8e5m2, f64".
std::string dtype_option_list();

}  // namespace ttap::formats
