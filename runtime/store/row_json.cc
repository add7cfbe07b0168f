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

// The fields every row's line opens with: which record it is, then where and when.
template <class Row>
ordered_json record_header(const char *record, const Row &row) {
  ordered_json j;
  j["record"] = record;
  j["rank"] = row.rank;
  j["step"] = row.step;
  j["time"] = row.time;
  return j;
}

}  // namespace

ordered_json json_number(const std::optional<double> &v) {
  return v && std::isfinite(*v) ? ordered_json(*v) : ordered_json();
}

ordered_json exp_hist_json(std::span<const uint64_t, kExpHistBins> bins) {
  ordered_json hist = ordered_json::object();
  for (int i = 0; i < kExpHistBins; ++i)
    if (bins[size_t(i)]) hist[std::to_string(i + kExpHistMin)] = bins[size_t(i)];
  return hist;
}

ordered_json sample_json(const sample_row &row, const tensor_row *tensor) {
  ordered_json j = record_header("sample", row);
  j["tensor"] = json_text(row.tensor);
  j["kind"] = tensor ? json_text(tensor->kind) : ordered_json();
  j["dtype"] = tensor ? json_text(tensor->dtype) : ordered_json();
  put_element_counts(j, row);
  j["min"] = json_number(row.min);
  j["max"] = json_number(row.max);
  j["abs_max"] = json_number(row.abs_max);
  j["sum"] = json_number(row.sum);
  j["sum_sq"] = json_number(row.sum_sq);
  j["sum_abs"] = json_number(row.sum_abs);
  j["l2"] = json_number(row.l2);
  j["mean"] = json_number(row.mean);
  j["std"] = json_number(row.std);
  j["exp_hist"] = row.hist ? exp_hist_json(*row.hist) : ordered_json::object();
  return j;
}

ordered_json scalar_json(const scalar_row &row) {
  ordered_json j = record_header("scalar", row);
  j["name"] = row.name;
  j["value"] = json_number(row.value);
  return j;
}

ordered_json alert_json(const alert_row &row) {
  ordered_json j = record_header("alert", row);
  j["tensor"] = json_text(row.tensor);
  j["type"] = row.type;
  j["message"] = row.message;
  return j;
}

}  // namespace ttap
