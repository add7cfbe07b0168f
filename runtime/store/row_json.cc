// The one JSON shape of the stored rows, shared by ttap export --jsonl (rows read back from the
// store) and the jsonl sink (records on their way to it).
#include "runtime/store/row_json.h"

#include <cmath>
#include <optional>

namespace ttap {
namespace {

using nlohmann::ordered_json;

ordered_json json_text(const std::string &text) {
  return text.empty() ? ordered_json() : ordered_json(text);
}

}  // namespace

ordered_json json_number(const std::optional<double> &v) {
  return v && std::isfinite(*v) ? ordered_json(*v) : ordered_json();
}

ordered_json sample_json(const sample_row &row, const tensor_row *tensor) {
  ordered_json j;
  j["record"] = "sample";
  j["rank"] = row.rank;
  j["step"] = row.step;
  j["time"] = row.time;
  j["tensor"] = json_text(row.tensor);
  j["kind"] = tensor ? json_text(tensor->kind) : ordered_json();
  j["dtype"] = tensor ? json_text(tensor->dtype) : ordered_json();
  j["count"] = row.count;
  j["nan"] = row.nan;
  j["pos_inf"] = row.pos_inf;
  j["neg_inf"] = row.neg_inf;
  j["zero"] = row.zero;
  j["subnormal"] = row.subnormal;
  j["min"] = json_number(row.min);
  j["max"] = json_number(row.max);
  j["abs_max"] = json_number(row.abs_max);
  j["sum"] = json_number(row.sum);
  j["sum_sq"] = json_number(row.sum_sq);
  j["sum_abs"] = json_number(row.sum_abs);
  j["l2"] = json_number(row.l2);
  j["mean"] = json_number(row.mean);
  j["std"] = json_number(row.std);
  ordered_json hist = ordered_json::object();
  if (row.hist) {
    for (int i = 0; i < kExpHistBins; ++i)
      if ((*row.hist)[i]) hist[std::to_string(i + kExpHistMin)] = (*row.hist)[i];
  }
  j["exp_hist"] = std::move(hist);
  return j;
}

ordered_json scalar_json(const scalar_row &row) {
  ordered_json j;
  j["record"] = "scalar";
  j["rank"] = row.rank;
  j["step"] = row.step;
  j["time"] = row.time;
  j["name"] = row.name;
  j["value"] = json_number(row.value);
  return j;
}

ordered_json alert_json(const alert_row &row) {
  ordered_json j;
  j["record"] = "alert";
  j["rank"] = row.rank;
  j["step"] = row.step;
  j["time"] = row.time;
  j["tensor"] = json_text(row.tensor);
  j["type"] = row.type;
  j["message"] = row.message;
  return j;
}

}  // namespace ttap
