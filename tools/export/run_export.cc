// The parts of `ttap export` every format shares: dispatch, the running count on a terminal,
// tensor kinds and dtypes by id, batched sample reads, and round-trip number formatting.
#include "tools/export/run_export.h"

#include <charconv>
#include <cmath>

namespace ttap::exports {

void export_progress::show() {
  // The first display also waits a second, so a small export prints nothing but its summary.
  const auto now = std::chrono::steady_clock::now();
  if (now - m_last_shown < std::chrono::seconds(1)) return;
  m_last_shown = now;
  m_shown = true;
  std::fprintf(m_display, "\rttap export: %llu rows written",
               static_cast<unsigned long long>(m_samples + m_scalars + m_alerts));
  std::fflush(m_display);
}

void export_progress::finish() {
  if (m_display && m_shown) {
    std::fputs("\r\033[K", m_display);  // carriage return, erase to the end of the line
    std::fflush(m_display);
  }
  m_shown = false;
}

bool export_run(run_reader &run, export_format format, const std::string &path,
                export_progress *progress, std::string *error) {
  switch (format) {
    case export_format::tensorboard:
      return export_tensorboard(run, path, progress, error);
    case export_format::csv:
      return export_csv(run, path, progress, error);
    case export_format::jsonl:
      return export_jsonl(run, path, progress, error);
  }
  *error = "unknown export format";
  return false;
}

bool tensor_catalog::load(run_reader &run, std::string *error) {
  std::vector<tensor_row> rows;
  if (!run.tensors(&rows)) {
    *error = run.last_error();
    return false;
  }
  m_tensors.clear();
  for (auto &t : rows) m_tensors.emplace(std::make_pair(t.rank, t.id), std::move(t));
  return true;
}

const tensor_row *tensor_catalog::find(int32_t rank, int32_t id) const {
  auto it = m_tensors.find({rank, id});
  return it == m_tensors.end() ? nullptr : &it->second;
}

constexpr size_t kSampleBatchRows = 16384;

bool for_each_sample_batch(run_reader &run, bool with_histograms,
                           const std::function<bool(const std::vector<sample_row> &)> &consume,
                           std::string *error) {
  std::vector<sample_row> batch;
  read_cursor after;
  for (;;) {
    // Batches bound the memory: a million samples with histograms would otherwise take gigabytes.
    if (!run.samples(&after, with_histograms, &batch, kSampleBatchRows)) {
      *error = run.last_error();
      return false;
    }
    if (batch.empty()) return true;
    if (!consume(batch)) return false;
  }
}

std::string format_double(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char text[32];
  auto [end, ec] = std::to_chars(text, text + sizeof text, v);
  return std::string(text, ec == std::errc() ? end : text);
}

}  // namespace ttap::exports
