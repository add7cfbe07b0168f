// The JSONL stream (jsonl=PATH): one JSON object per line for every sample record, scalar and
// alert, appended and flushed at each collector flush, for `tail -f` and log shippers. The lines
// have the shape of `ttap export --jsonl` ("record": "sample" | "scalar" | "alert").
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "runtime/log.h"
#include "runtime/store/row_json.h"
#include "runtime/sinks/sink.h"

namespace ttap {
namespace {

using nlohmann::ordered_json;

// A record as the row the store would give back for it (the JSON shape is the row's, row_json.h):
// what JSON cannot spell (NaN, ±Inf) becomes null there.
sample_row row_of(const sample_record &r, const tensor_row *t) {
  const summary &s = r.stats;
  const summary_derived d = summary_finalize(s);
  sample_row row;
  row.rank = r.rank;
  row.step = r.step;
  row.time = r.time;
  row.tensor_id = r.tensor_id;
  if (t && !t->kind.empty()) row.tensor = t->name;
  row.count = s.count;
  row.nan = s.nan;
  row.pos_inf = s.pos_inf;
  row.neg_inf = s.neg_inf;
  row.zero = s.zero;
  row.subnormal = s.subnormal;
  row.min = s.min;
  row.max = s.max;
  row.abs_max = s.abs_max;
  row.sum = s.sum;
  row.sum_sq = d.sum_sq;
  row.sum_abs = s.sum_abs;
  row.l2 = d.l2;
  row.mean = d.mean;
  row.std = d.std;
  row.hist.emplace();
  for (int i = 0; i < kExpHistBins; ++i) (*row.hist)[i] = s.exp_hist[i];
  return row;
}

class jsonl_sink final : public sink {
 public:
  jsonl_sink(std::string path, std::FILE *file) : m_path(std::move(path)), m_file(file) {}
  ~jsonl_sink() override {
    if (m_file) std::fclose(m_file);
  }
  const char *name() const override { return "jsonl"; }

  void on_tensor(const tensor_info &t) override {
    if (size_t(t.id) >= m_tensors.size()) m_tensors.resize(size_t(t.id) + 1);
    tensor_row &row = m_tensors[size_t(t.id)];
    row.id = t.id;
    row.name = t.name;
    row.kind = tensor_kind_name(t.kind);
    row.dtype = dtype_name(t.type);
    row.numel = t.numel;
  }
  void on_records(std::span<const sample_record> records, const group_sample *) override {
    for (const sample_record &r : records) {
      const tensor_row *t = r.tensor_id >= 0 && size_t(r.tensor_id) < m_tensors.size()
                                ? &m_tensors[size_t(r.tensor_id)]
                                : nullptr;
      write(sample_json(row_of(r, t), t));
    }
  }
  void on_scalar(const scalar_record &s) override {
    scalar_row row;
    row.rank = s.rank;
    row.step = s.step;
    row.time = s.time;
    row.name = s.name;
    row.value = s.value;
    write(scalar_json(row));
  }
  void on_alert(const alert &a) override {
    alert_row row;
    row.rank = a.rank;
    row.step = a.step;
    row.time = a.time;
    row.tensor = a.tensor;
    row.type = alert_type_name(a.type);
    row.message = a.message;
    write(alert_json(row));
  }
  void flush(const run_counters &, bool) override {
    if (m_file && std::fflush(m_file) != 0) failed(errno);
  }
  bool healthy(std::string *why) const override {
    if (!m_error.empty() && why) *why = m_error;
    return m_error.empty();
  }

 private:
  void write(const ordered_json &j) {
    if (!m_file) return;
    // Names are the user's bytes: invalid UTF-8 is replaced rather than refused.
    std::string line = j.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
    line += '\n';
    if (std::fwrite(line.data(), 1, line.size(), m_file) != line.size()) failed(errno);
  }
  void failed(int err) {
    m_error = m_path + ": " + std::strerror(err);
    warn_once("jsonl", "the JSONL stream failed (%s); nothing more is written to it",
              m_error.c_str());
    std::fclose(m_file);
    m_file = nullptr;
  }

  std::string m_path;
  std::FILE *m_file;
  std::vector<tensor_row> m_tensors;  // by id (a registered tensor has a kind)
  std::string m_error;
};

}  // namespace

std::unique_ptr<sink> make_jsonl_sink(const std::string &path, std::string *error) {
  std::FILE *f = std::fopen(path.c_str(), "ae");  // appended: several sessions may share a file
  if (!f) {
    *error = "jsonl=" + path + ": cannot open for writing: " + std::strerror(errno);
    return nullptr;
  }
  return std::make_unique<jsonl_sink>(path, f);
}

}  // namespace ttap
