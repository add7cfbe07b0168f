// The compiled half of the Python binding's session: a tensortap session (libttap's C API) plus the
// list of watched parameters and gradients, whose memory is re-checked in C++ right before every
// ttap_step, so that marking a step costs a few C calls per tensor rather than Python code.
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "ttap/ttap.h"

namespace ttap::python {

namespace py = pybind11;

// A failed tensortap call: the status and ttap_last_error()'s message. Python sees it as
// tensortap.TensorTapError (a RuntimeError).
class status_error : public std::runtime_error {
 public:
  status_error(ttap_status status, const std::string &message)
      : std::runtime_error(message), m_status(status) {}
  ttap_status status() const { return m_status; }

 private:
  ttap_status m_status;
};

class python_session {
 public:
  // Opens the session (ttap_open). run_dir: nullopt for $TTAP_RUN_DIR or the default. options:
  // "key=value,..." as the C API takes them. describe(name, tensor) returns None when the tensor
  // cannot be summarized (it warns itself), else (data_ptr, ttap_dtype, numel, on_cuda).
  // warn(name, message) reports a watched tensor that had to be dropped.
  python_session(const std::optional<std::string> &run_dir, const std::string &options,
                 py::object describe, py::object warn);
  ~python_session();
  python_session(const python_session &) = delete;
  python_session &operator=(const python_session &) = delete;

  // The directory the session writes (ttap_get_run_dir): absolute, the next free ttap-run-N
  // when ttap_open chose one.
  std::string run_dir() const;

  // Adds a watched tensor: `owner` itself (a parameter), or its `.grad` when from_grad; with
  // local_shard, that tensor's `_local_tensor` (a DTensor's shard on this rank). It is bound to
  // the runtime at the next step where it exists, with `role` (a ttap_role: what it is to a
  // group, declared with ttap_set_role unless AUTO). Returns an index for remove_watched.
  int add_watched(const std::string &name, py::object owner, bool from_grad, int kind,
                  bool local_shard, int role);
  // Unwatches it in the runtime (its stored samples stay) and drops the reference to the owner.
  void remove_watched(int index);
  // Names currently bound in the runtime, in watch order.
  std::vector<std::string> bound_names() const;

  // Re-checks every watched tensor (rebinding the ones whose memory moved, unwatching the ones
  // that became None) and marks the step (ttap_step). current_stream() is called only when a
  // bound tensor is on a CUDA device and returns torch's current cudaStream_t as an integer.
  void step(int64_t step, const py::object &current_stream);

  void observe(const std::string &name, uintptr_t ptr, int dtype, uint64_t numel, int kind,
               int64_t step, uintptr_t stream);
  void log_scalar(const std::string &name, double value, int64_t step);
  // ttap_verdict: {"action": "none" | "skip" | "abort", "sampled", "nonfinite_tensors",
  // "first_tensor" (a name, or None), "spike"}.
  py::dict verdict(int64_t step);
  // The alerts raised since the last call (ttap_next_alert), oldest first, as dicts with "step",
  // "rank", "type", "tensor", "message".
  py::list take_alerts();
  // ttap_set_group: kind "mpi" with the address of an MPI_Comm, or "single" (comm ignored).
  void set_group(const std::string &kind, uintptr_t comm);
  void flush();
  void close();
  bool closed() const { return m_session == nullptr; }

 private:
  struct watched_tensor {
    std::string name;
    py::object owner;  // none once removed
    bool from_grad = false;
    bool local_shard = false;
    ttap_kind kind = TTAP_OTHER;
    int role = TTAP_ROLE_AUTO;
    bool removed = false;
    bool dropped = false;     // unsupported or changed: never looked at again
    bool registered = false;  // known to the runtime (keeps its dtype and size for good)
    bool bound = false;       // watched in the runtime now
    int32_t handle = -1;
    int dtype = 0;
    uint64_t numel = 0;
    uintptr_t ptr = 0;
    std::vector<uint64_t> shape;  // recorded with the watch (forensic dumps); empty: flat
    py::object torch_dtype;  // the tensor's torch.dtype when bound: a cheap identity check
    bool on_cuda = false;
  };

  ttap_session *live() const;
  void refresh(watched_tensor &w);
  // Whether `tensor` (same dtype object as when bound) can be rebound at `ptr` without asking
  // Python: contiguous, not a negated view, the same number of elements on the same kind of
  // device. False also when an attribute cannot be read (the caller then asks describe()).
  bool moved_in_place(watched_tensor &w, const py::handle &tensor);
  void bind(watched_tensor &w, const py::handle &tensor);
  void unbind(watched_tensor &w);
  void drop(watched_tensor &w, const std::string &why);

  ttap_session *m_session = nullptr;
  py::object m_describe;
  py::object m_warn;
  std::vector<watched_tensor> m_watched;
  int m_bound_on_cuda = 0;
  // Attribute names looked up at every step, interned once.
  py::str m_grad_attr{"grad"};
  py::str m_local_attr{"_local_tensor"};
  py::str m_dtype_attr{"dtype"};
  py::str m_data_ptr_attr{"data_ptr"};
  py::str m_is_contiguous_attr{"is_contiguous"};
  py::str m_is_neg_attr{"is_neg"};
  py::str m_numel_attr{"numel"};
  py::str m_is_cpu_attr{"is_cpu"};
  py::str m_is_cuda_attr{"is_cuda"};
};

// The effective configuration a session with these arguments gets (defaults, environment,
// options): run_dir, every, interval_ms, budget, backend, flush_ms, on_nonfinite, rank, world.
py::dict effective_config(const std::optional<std::string> &run_dir, const std::string &options);

}  // namespace ttap::python
