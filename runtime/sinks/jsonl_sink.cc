// The JSONL stream (jsonl=PATH): one JSON object per line for every sample record, scalar and
// alert, appended and flushed at each collector flush, for `tail -f` and log shippers. The lines
// have the shape of `ttap export --jsonl` ("record": "sample" | "scalar" | "alert").
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "runtime/log.h"
#include "runtime/sinks/sink.h"

namespace ttap {
namespace {

using nlohmann::ordered_json;

// JSON has no spelling for NaN or ±Inf: those become null, as in `ttap export --jsonl`.
ordered_json number(double v) { return std::isfinite(v) ? ordered_json(v) : ordered_json(); }

class jsonl_sink final : public sink {
 public:
  jsonl_sink(std::string path, std::FILE *file) : m_path(std::move(path)), m_file(file) {}
  ~jsonl_sink() override {
    if (m_file) std::fclose(m_file);
  }
  const char *name() const override { return "jsonl"; }

  void on_tensor(const tensor_info &t) override {
    if (size_t(t.id) >= m_tensors.size()) m_tensors.resize(size_t(t.id) + 1);
    m_tensors[size_t(t.id)] = t;
  }
  void on_records(std::span<const sample_record> records, const group_sample *) override {
    for (const sample_record &r : records) {
      const tensor_info *t = r.tensor_id >= 0 && size_t(r.tensor_id) < m_tensors.size()
                                 ? &m_tensors[size_t(r.tensor_id)]
                                 : nullptr;
      const summary &s = r.stats;
      const summary_derived d = summary_finalize(s);
      ordered_json j;
      j["record"] = "sample";
      j["rank"] = r.rank;
      j["step"] = r.step;
      j["time"] = r.time;
      j["tensor"] = t ? ordered_json(t->name) : ordered_json();
      j["kind"] = t ? ordered_json(tensor_kind_name(t->kind)) : ordered_json();
      j["dtype"] = t ? ordered_json(dtype_name(t->type)) : ordered_json();
      j["count"] = s.count;
      j["nan"] = s.nan;
      j["pos_inf"] = s.pos_inf;
      j["neg_inf"] = s.neg_inf;
      j["zero"] = s.zero;
      j["subnormal"] = s.subnormal;
      j["min"] = number(s.min);
      j["max"] = number(s.max);
      j["abs_max"] = number(s.abs_max);
      j["sum"] = number(s.sum);
      j["sum_sq"] = number(d.sum_sq);
      j["sum_abs"] = number(s.sum_abs);
      j["l2"] = number(d.l2);
      j["mean"] = number(d.mean);
      j["std"] = number(d.std);
      ordered_json hist = ordered_json::object();
      for (int i = 0; i < kExpHistBins; ++i)
        if (s.exp_hist[i]) hist[std::to_string(i + kExpHistMin)] = s.exp_hist[i];
      j["exp_hist"] = std::move(hist);
      write(j);
    }
  }
  void on_scalar(const scalar_record &s) override {
    ordered_json j;
    j["record"] = "scalar";
    j["rank"] = s.rank;
    j["step"] = s.step;
    j["time"] = s.time;
    j["name"] = s.name;
    j["value"] = number(s.value);
    write(j);
  }
  void on_alert(const alert &a) override {
    ordered_json j;
    j["record"] = "alert";
    j["rank"] = a.rank;
    j["step"] = a.step;
    j["time"] = a.time;
    j["tensor"] = a.tensor.empty() ? ordered_json() : ordered_json(a.tensor);
    j["type"] = alert_type_name(a.type);
    j["message"] = a.message;
    write(j);
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
  std::vector<tensor_info> m_tensors;  // by id
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
