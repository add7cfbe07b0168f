// CSV (samples only, one row each, samples_v's columns) and JSONL (one object per line for every
// sample, scalar and alert) exports. Numbers are written in their shortest round-trip form, so a
// value read back from either file is the stored double exactly.
#include "tools/export/text_export.h"

#include <cmath>
#include <optional>

#include "runtime/store/row_json.h"
#include "tools/export/output_file.h"
#include "tools/export/run_export.h"

namespace ttap::exports {
namespace {

using nlohmann::ordered_json;

void append_cell(std::string *line, const std::optional<double> &v) {
  line->push_back(',');
  if (v) line->append(format_double(*v));
}

void append_cell(std::string *line, uint64_t v) {
  line->push_back(',');
  line->append(std::to_string(v));
}

// Names come from the trainer and may not be UTF-8: replace bad bytes instead of failing late.
std::string json_line(const ordered_json &j) {
  return j.dump(-1, ' ', false, ordered_json::error_handler_t::replace) + "\n";
}

}  // namespace

std::string csv_field(std::string_view text) {
  if (text.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(text);
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"') quoted.push_back('"');
    quoted.push_back(c);
  }
  quoted.push_back('"');
  return quoted;
}

std::string csv_row(const sample_row &row, const tensor_row *tensor) {
  std::string line = std::to_string(row.rank) + ',' + std::to_string(row.step) + ',' +
                     format_double(row.time) + ',' + csv_field(row.tensor) + ',';
  if (tensor)
    line += csv_field(tensor->kind) + ',' + csv_field(tensor->dtype);
  else
    line += ',';
  for (uint64_t v : {row.count, row.nan, row.pos_inf, row.neg_inf, row.zero, row.subnormal})
    append_cell(&line, v);
  for (const auto *v : {&row.min, &row.max, &row.abs_max, &row.sum, &row.sum_sq, &row.sum_abs,
                        &row.l2, &row.mean, &row.std})
    append_cell(&line, *v);
  return line;
}

bool export_csv(run_reader &run, const std::string &path, export_progress *progress,
                std::string *error) {
  tensor_catalog catalog;
  if (!catalog.load(run, error)) return false;
  output_file out;
  if (!out.open(path, error)) return false;
  out.write(std::string(kCsvHeader) + "\n");
  std::string line;
  const bool read = for_each_sample_batch(
      run, false,
      [&](const std::vector<sample_row> &batch) {
        for (const auto &row : batch) {
          line = csv_row(row, catalog.find(row.rank, row.tensor_id));
          line.push_back('\n');
          out.write(line);
          progress->sample_written();
        }
        return true;
      },
      error);
  return read && out.commit(error);
}

bool export_jsonl(run_reader &run, const std::string &path, export_progress *progress,
                  std::string *error) {
  tensor_catalog catalog;
  if (!catalog.load(run, error)) return false;
  // Read the small tables before writing, so a database error leaves no file behind.
  std::vector<scalar_row> scalars;
  std::vector<alert_row> alerts;
  if (!run.scalars("", &scalars) || !run.alerts(nullptr, &alerts)) {
    *error = run.last_error();
    return false;
  }
  output_file out;
  if (!out.open(path, error)) return false;
  const bool read = for_each_sample_batch(
      run, true,
      [&](const std::vector<sample_row> &batch) {
        for (const auto &row : batch) {
          out.write(json_line(sample_json(row, catalog.find(row.rank, row.tensor_id))));
          progress->sample_written();
        }
        return true;
      },
      error);
  if (!read) return false;
  for (const auto &s : scalars) {
    out.write(json_line(scalar_json(s)));
    progress->scalar_written();
  }
  for (const auto &a : alerts) {
    out.write(json_line(alert_json(a)));
    progress->alert_written();
  }
  return out.commit(error);
}

}  // namespace ttap::exports
