// The JSON object of a sample, scalar or alert row: one line of `ttap export --jsonl` and of the
// jsonl=PATH stream alike ("record": "sample" | "scalar" | "alert"), so a reader of either file
// reads the other. Values JSON cannot spell (NaN, ±Inf) and missing ones are null.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>

#include "runtime/store/run_reader.h"

namespace ttap {

// A number as JSON: null for NaN and ±Inf (JSON has no spelling for them) and for a missing value.
// Every JSON ttap writes (exports, the jsonl sink, report, diff, stats) goes through it.
nlohmann::ordered_json json_number(const std::optional<double> &v);

// "record": "sample", samples_v's fields (`tensor` null: kind and dtype null) and "exp_hist" as
// `ttap stats --format json` writes it (exponent string -> count, nonzero bins).
nlohmann::ordered_json sample_json(const sample_row &row, const tensor_row *tensor);
nlohmann::ordered_json scalar_json(const scalar_row &row);
nlohmann::ordered_json alert_json(const alert_row &row);

}  // namespace ttap
