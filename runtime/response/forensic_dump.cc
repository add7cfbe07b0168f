// Writing a forensic dump: a .safetensors file any tensor library reads (8-byte header length,
// JSON header, raw little-endian data) and a JSON file of the summaries around the bad step.
#include "runtime/response/forensic_dump.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

namespace ttap {
namespace {

using nlohmann::ordered_json;

// JSON has no NaN or Inf: such numbers are written as strings.
ordered_json number(double x) {
  if (std::isfinite(x)) return x;
  return std::isnan(x) ? "nan" : x > 0 ? "inf" : "-inf";
}

bool write_file(const std::string &path, const std::string &head,
                const std::vector<const dump_tensor *> &data, std::string *error) {
  FILE *f = std::fopen(path.c_str(), "wb");
  if (!f) {
    *error = path + ": " + std::strerror(errno);
    return false;
  }
  bool ok = std::fwrite(head.data(), 1, head.size(), f) == head.size();
  for (const dump_tensor *t : data) {
    if (!ok) break;
    ok = t->bytes.empty() || std::fwrite(t->bytes.data(), 1, t->bytes.size(), f) == t->bytes.size();
  }
  const int write_errno = errno;
  ok = std::fclose(f) == 0 && ok;  // a full disk may only show at the final flush
  if (!ok) *error = path + ": " + std::strerror(errno ? errno : write_errno);
  return ok;
}

std::string safetensors_header(const std::vector<const dump_tensor *> &tensors,
                               const dump_contents &dump) {
  ordered_json h = ordered_json::object();
  h["__metadata__"] = {{"step", std::to_string(dump.step)},
                       {"rank", std::to_string(dump.rank)},
                       {"reason", dump.reason}};
  uint64_t offset = 0;
  for (const dump_tensor *t : tensors) {
    h[t->name] = {{"dtype", dtype_name(t->type)},
                  {"shape", t->shape},
                  {"data_offsets", {offset, offset + t->bytes.size()}}};
    offset += t->bytes.size();
  }
  std::string json = h.dump();
  // The format pads the header with spaces so the data starts 8-byte aligned.
  json.append((8 - json.size() % 8) % 8, ' ');
  std::string head(8, '\0');
  uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) head[size_t(i)] = char((n >> (8 * i)) & 0xff);
  return head + json;
}

}  // namespace

summary_digest digest_of(int64_t step, const summary &s) {
  const summary_derived d = summary_finalize(s);
  summary_digest g;
  g.step = step;
  g.count = s.count;
  g.nan = s.nan;
  g.pos_inf = s.pos_inf;
  g.neg_inf = s.neg_inf;
  g.zero = s.zero;
  g.min = s.min;
  g.max = s.max;
  g.abs_max = s.abs_max;
  g.l2 = d.l2;
  g.mean = d.mean;
  return g;
}

void summary_history::add(int32_t tensor_id, int64_t step, const summary &s) {
  if (tensor_id < 0 || m_capacity == 0) return;
  if (size_t(tensor_id) >= m_by_tensor.size()) m_by_tensor.resize(size_t(tensor_id) + 1);
  std::deque<summary_digest> &h = m_by_tensor[size_t(tensor_id)];
  if (h.size() == m_capacity) h.pop_front();
  h.push_back(digest_of(step, s));
}

const std::deque<summary_digest> *summary_history::of(int32_t tensor_id) const {
  if (tensor_id < 0 || size_t(tensor_id) >= m_by_tensor.size()) return nullptr;
  return &m_by_tensor[size_t(tensor_id)];
}

std::string dump_directory(const std::string &run_dir, int64_t step, int32_t rank) {
  return run_dir + "/dumps/step-" + std::to_string(step) + "-rank-" + std::to_string(rank);
}

bool write_forensic_dump(const std::string &dir, const dump_contents &dump, std::string *error) {
  try {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      *error = "cannot create " + dir + ": " + ec.message();
      return false;
    }
    std::vector<const dump_tensor *> tensors;
    for (const dump_tensor &t : dump.tensors) tensors.push_back(&t);
    if (!write_file(dir + "/tensors.safetensors", safetensors_header(tensors, dump), tensors,
                    error))
      return false;

    ordered_json j;
    j["step"] = dump.step;
    j["rank"] = dump.rank;
    j["reason"] = dump.reason;
    ordered_json written = ordered_json::array();
    for (const dump_tensor &t : dump.tensors)
      written.push_back({{"name", t.name},
                         {"why", t.why},
                         {"dtype", dtype_name(t.type)},
                         {"shape", t.shape},
                         {"bytes", t.bytes.size()}});
    j["tensors"] = std::move(written);
    ordered_json left_out = ordered_json::array();
    for (const auto &[name, why] : dump.left_out)
      left_out.push_back({{"name", name}, {"why", why}});
    j["left_out"] = std::move(left_out);
    ordered_json history = ordered_json::object();
    for (const auto &[name, digests] : dump.history) {
      ordered_json rows = ordered_json::array();
      for (const summary_digest &g : digests) {
        rows.push_back({{"step", g.step},
                        {"count", g.count},
                        {"nan", g.nan},
                        {"pos_inf", g.pos_inf},
                        {"neg_inf", g.neg_inf},
                        {"zero", g.zero},
                        {"min", number(g.min)},
                        {"max", number(g.max)},
                        {"abs_max", number(g.abs_max)},
                        {"l2", number(g.l2)},
                        {"mean", number(g.mean)}});
      }
      history[name] = std::move(rows);
    }
    j["history"] = std::move(history);
    ordered_json scalars = ordered_json::array();
    for (const scalar_record &s : dump.scalars)
      scalars.push_back({{"name", s.name}, {"step", s.step}, {"value", number(s.value)}});
    j["scalars"] = std::move(scalars);
    // Names come from the trainer: invalid UTF-8 is replaced rather than refused.
    const std::string text = j.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    return write_file(dir + "/summaries.json", text, {}, error);
  } catch (const std::exception &e) {
    *error = dir + ": " + e.what();
    return false;
  }
}

}  // namespace ttap
