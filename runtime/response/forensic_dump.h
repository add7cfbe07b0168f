// The forensic dump of a step a response policy judged bad (on_nonfinite=dump, on_spike=dump):
// RUN_DIR/dumps/step-<S>-rank-<R>/ holding tensors.safetensors (the offending tensors, and for a
// gradient its parameter when that is watched) and summaries.json (the last summaries of every
// watched tensor up to the step, the run's recent scalars, and what was left out and why).
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "kernels/summary.h"
#include "runtime/record.h"

namespace ttap {

// One summary as the dump's history keeps it: the fields people read, without the histogram.
struct summary_digest {
  int64_t step = 0;
  uint64_t count = 0, nan = 0, pos_inf = 0, neg_inf = 0, zero = 0;
  double min = 0, max = 0, abs_max = 0, l2 = 0, mean = 0;
};
summary_digest digest_of(int64_t step, const summary &s);

// A tensor copied into host memory for the dump.
struct dump_tensor {
  std::string name;
  std::string why;  // "nonfinite", "spike", "parameter of <grad>"
  dtype type = dtype::f32;
  std::vector<uint64_t> shape;  // the watched shape, else {numel}
  std::vector<uint8_t> bytes;
};

struct dump_contents {
  int64_t step = 0;
  int32_t rank = 0;
  std::string reason;  // "nonfinite", "spike"
  std::vector<dump_tensor> tensors;
  std::vector<std::pair<std::string, std::string>> left_out;  // tensor name, why
  // Every watched tensor's latest summaries, oldest first.
  std::vector<std::pair<std::string, std::vector<summary_digest>>> history;
  std::vector<scalar_record> scalars;  // the latest ones logged, oldest first
};

// The directory of the dump of `step` on `rank`.
std::string dump_directory(const std::string &run_dir, int64_t step, int32_t rank);

// Writes tensors.safetensors and summaries.json into `dir` (created, parents too). Never throws.
// False with *error naming the file and the cause (a full disk, a read-only directory); what was
// written stays.
bool write_forensic_dump(const std::string &dir, const dump_contents &dump, std::string *error);

// The last `capacity` summaries of each tensor, by tensor id (the dump's history).
class summary_history {
 public:
  explicit summary_history(size_t capacity) : m_capacity(capacity) {}
  void add(int32_t tensor_id, int64_t step, const summary &s);
  const std::deque<summary_digest> *of(int32_t tensor_id) const;

 private:
  size_t m_capacity;
  std::vector<std::deque<summary_digest>> m_by_tensor;
};

}  // namespace ttap
