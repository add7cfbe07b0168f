// The JSON object of a sample, scalar or alert row: one line of `ttap export --jsonl` and of the
// jsonl=PATH stream alike ("record": "sample" | "scalar" | "alert"), so a reader of either file
// reads the other. Values JSON cannot spell (NaN, ±Inf) and missing ones are null.
#pragma once

#include <nlohmann/json.hpp>

#include "runtime/store/run_reader.h"

namespace ttap {

// "record": "sample", samples_v's fields (`tensor` null: kind and dtype null) and "exp_hist" as
// `ttap stats --format json` writes it (exponent string -> count, nonzero bins).
nlohmann::ordered_json sample_json(const sample_row &row, const tensor_row *tensor);
nlohmann::ordered_json scalar_json(const scalar_row &row);
nlohmann::ordered_json alert_json(const alert_row &row);

}  // namespace ttap
