// The JSON object of a sample, scalar or alert row: one line of `ttap export --jsonl` and of the
// jsonl=PATH stream alike ("record": "sample" | "scalar" | "alert"), so a reader of either file
// reads the other. Values JSON cannot spell (NaN, ±Inf) and missing ones are null.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <span>

#include "runtime/store/run_reader.h"

namespace ttap {

// A number as JSON: null for NaN and ±Inf (JSON has no spelling for them) and for a missing value.
// Every JSON ttap writes (exports, the jsonl sink, report, diff, stats) goes through it.
nlohmann::ordered_json json_number(const std::optional<double> &v);

// The element counts under the names every JSON form gives them, from a stored row (sample_row)
// or a fresh summary alike: the JSONL sample lines and `ttap stats --format json` share them.
template <class Counts>
void put_element_counts(nlohmann::ordered_json &j, const Counts &c) {
  j["count"] = c.count;
  j["nan"] = c.nan;
  j["pos_inf"] = c.pos_inf;
  j["neg_inf"] = c.neg_inf;
  j["zero"] = c.zero;
  j["subnormal"] = c.subnormal;
}

// The exponent histogram as {"exponent": count} over its nonzero bins.
nlohmann::ordered_json exp_hist_json(std::span<const uint64_t, kExpHistBins> bins);

// "record": "sample", samples_v's fields (`tensor` null: kind and dtype null) and "exp_hist" as
// `ttap stats --format json` writes it (exponent string -> count, nonzero bins).
nlohmann::ordered_json sample_json(const sample_row &row, const tensor_row *tensor);
nlohmann::ordered_json scalar_json(const scalar_row &row);
nlohmann::ordered_json alert_json(const alert_row &row);

}  // namespace ttap
