// The Python binding's session in C++: C API calls with the GIL released, and the per-step check of
// watched parameters and gradients. That check runs at every optimizer step whether a sample is due
// or not (the runtime decides that inside ttap_step), so it stays in C++: three attribute reads per
// tensor, and Python code only when a tensor is new or its memory moved.
#include "collectors/python/python_session.h"

#include <cstring>

#include "runtime/config.h"

namespace ttap::python {
namespace {

void check(ttap_status st) {
  if (st == TTAP_OK) return;
  throw status_error(st, std::string(ttap_status_string(st)) + ": " + ttap_last_error());
}

// obj.name() without building a bound method object where the interpreter allows it.
PyObject *call_method(PyObject *obj, PyObject *name) {
#if PY_VERSION_HEX >= 0x03090000
  PyObject *args[] = {obj};
  return PyObject_VectorcallMethod(name, args, 1 | PY_VECTORCALL_ARGUMENTS_OFFSET, nullptr);
#else
  return PyObject_CallMethodObjArgs(obj, name, nullptr);
#endif
}

}  // namespace

python_session::python_session(const std::optional<std::string> &run_dir,
                               const std::string &options, py::object describe, py::object warn)
    : m_describe(std::move(describe)), m_warn(std::move(warn)) {
  ttap_session *s = nullptr;
  ttap_status st;
  {
    py::gil_scoped_release release;  // creates the directory and the store
    st = ttap_open(run_dir ? run_dir->c_str() : nullptr,
                   options.empty() ? nullptr : options.c_str(), &s);
  }
  check(st);
  m_session = s;
}

python_session::~python_session() {
  // The Python side closes explicitly (close(), the context manager, atexit); this is the fallback
  // for a session dropped without that. The store is still flushed and closed.
  if (m_session) ttap_close(m_session);
}

std::string python_session::run_dir() const {
  size_t length = 0;
  check(ttap_get_run_dir(live(), nullptr, 0, &length));
  std::string dir(length + 1, '\0');
  check(ttap_get_run_dir(m_session, dir.data(), dir.size(), &length));
  dir.resize(length);
  return dir;
}

ttap_session *python_session::live() const {
  if (!m_session) throw status_error(TTAP_ERR_INVALID_ARGUMENT, "the session is closed");
  return m_session;
}

int python_session::add_watched(const std::string &name, py::object owner, bool from_grad, int kind,
                                bool local_shard, int role) {
  live();
  if (kind < TTAP_GRAD || kind > TTAP_COLLECTIVE)
    throw status_error(TTAP_ERR_INVALID_ARGUMENT, "kind " + std::to_string(kind) + " is invalid");
  if (role < TTAP_ROLE_AUTO || role >= TTAP_NUM_ROLES)
    throw status_error(TTAP_ERR_INVALID_ARGUMENT, "role " + std::to_string(role) + " is invalid");
  watched_tensor w;
  w.name = name;
  w.owner = std::move(owner);
  w.from_grad = from_grad;
  w.local_shard = local_shard;
  w.kind = ttap_kind(kind);
  w.role = role;
  m_watched.push_back(std::move(w));
  return int(m_watched.size() - 1);
}

void python_session::remove_watched(int index) {
  if (index < 0 || size_t(index) >= m_watched.size()) return;
  watched_tensor &w = m_watched[size_t(index)];
  if (w.removed) return;
  if (w.bound && m_session) unbind(w);
  w.removed = true;
  w.owner = py::none();
  w.torch_dtype = py::none();
}

std::vector<std::string> python_session::bound_names() const {
  std::vector<std::string> names;
  for (const watched_tensor &w : m_watched) {
    if (w.bound) names.push_back(w.name);
  }
  return names;
}

void python_session::unbind(watched_tensor &w) {
  // Failing to unwatch can only mean the session is gone, and then nothing reads the memory.
  ttap_unwatch(m_session, w.handle);
  w.bound = false;
  if (w.on_cuda) --m_bound_on_cuda;
  w.on_cuda = false;
}

void python_session::drop(watched_tensor &w, const std::string &why) {
  if (w.bound) unbind(w);
  w.dropped = true;
  m_warn(w.name, why);
}

void python_session::bind(watched_tensor &w, const py::handle &tensor) {
  py::object described = m_describe(w.name, tensor);
  if (described.is_none()) {  // unsupported: describe() has warned
    if (w.bound) unbind(w);
    w.dropped = true;
    return;
  }
  auto fields = described.cast<py::tuple>();
  const auto ptr = fields[0].cast<uintptr_t>();
  const int dtype = fields[1].cast<int>();
  const auto numel = fields[2].cast<uint64_t>();
  const bool on_cuda = fields[3].cast<bool>();
  std::vector<uint64_t> shape;
  const bool shaped = fields.size() > 4 && !fields[4].is_none();
  if (shaped)
    for (const auto &d : fields[4].cast<py::tuple>()) shape.push_back(d.cast<uint64_t>());
  if (w.registered && (dtype != w.dtype || numel != w.numel)) {
    // The runtime keeps one dtype and size per name (a model converted with .half() after
    // watch(), say): the old series stays as it is and the tensor is no longer sampled.
    drop(w, "its dtype or number of elements changed after watch(); it is no longer sampled");
    return;
  }
  ttap_status st;
  if (w.bound) {
    st = ttap_rebind(m_session, w.handle, reinterpret_cast<const void *>(ptr));
  } else {
    // With its shape when the tensor is contiguous (the dump writes it as the model has it).
    if (shaped)
      st = ttap_watch_shaped(m_session, w.name.c_str(), reinterpret_cast<const void *>(ptr),
                             ttap_dtype(dtype), shape.data(), int32_t(shape.size()), w.kind,
                             &w.handle);
    else
      st = ttap_watch(m_session, w.name.c_str(), reinterpret_cast<const void *>(ptr),
                      ttap_dtype(dtype), numel, w.kind, &w.handle);
    // A role the binding knows (a DTensor's shard, a DDP gradient) travels with every (re)watch.
    if (st == TTAP_OK && w.role != TTAP_ROLE_AUTO) {
      st = ttap_set_role(m_session, w.handle, ttap_role(w.role));
      if (st != TTAP_OK) {
        const std::string why = ttap_last_error();
        ttap_unwatch(m_session, w.handle);
        drop(w, why);
        return;
      }
    }
  }
  if (st != TTAP_OK) {
    drop(w, ttap_last_error());
    return;
  }
  if (w.on_cuda) --m_bound_on_cuda;
  if (on_cuda) ++m_bound_on_cuda;
  w.on_cuda = on_cuda;
  w.bound = true;
  w.registered = true;
  w.dtype = dtype;
  w.numel = numel;
  w.ptr = ptr;
  w.torch_dtype = tensor.attr(m_dtype_attr);
}

bool python_session::moved_in_place(watched_tensor &w, const py::handle &tensor) {
  auto call = [&](const py::str &name) {
    return py::reinterpret_steal<py::object>(call_method(tensor.ptr(), name.ptr()));
  };
  py::object contiguous = call(m_is_contiguous_attr);
  if (!contiguous || contiguous.ptr() != Py_True) return false;
  py::object negated = call(m_is_neg_attr);
  if (!negated || negated.ptr() != Py_False) return false;
  py::object numel = call(m_numel_attr);
  if (!numel) return false;
  const unsigned long long n = PyLong_AsUnsignedLongLong(numel.ptr());
  if (PyErr_Occurred() || n != w.numel) return false;
  // is_cpu / is_cuda rather than device.type: no torch.device object made.
  PyObject *on_device =
      PyObject_GetAttr(tensor.ptr(), (w.on_cuda ? m_is_cuda_attr : m_is_cpu_attr).ptr());
  if (!on_device) return false;
  const bool same_device = on_device == Py_True;
  Py_DECREF(on_device);
  return same_device;
}

void python_session::refresh(watched_tensor &w) {
  PyObject *raw = w.from_grad ? PyObject_GetAttr(w.owner.ptr(), m_grad_attr.ptr())
                              : py::object(w.owner).release().ptr();
  if (!raw) throw py::error_already_set();
  auto tensor = py::reinterpret_steal<py::object>(raw);
  if (w.local_shard && !tensor.is_none()) {
    PyObject *local = PyObject_GetAttr(tensor.ptr(), m_local_attr.ptr());
    if (!local) throw py::error_already_set();
    tensor = py::reinterpret_steal<py::object>(local);
  }
  if (tensor.is_none()) {
    // No gradient this step (an unused parameter, or zero_grad(set_to_none=True) with no backward
    // since). Unwatching keeps the runtime from reading memory that may have been freed.
    if (w.bound) unbind(w);
    return;
  }
  if (w.bound) {
    // The fast path. Same dtype object (torch dtypes are singletons) and same data_ptr(): the
    // runtime already reads the right memory. The size is not re-read: a gradient's size is its
    // parameter's, and new storage for a parameter is allocated while the old one is alive, so it
    // cannot come back at the old address with another size unnoticed.
    PyObject *dtype = PyObject_GetAttr(tensor.ptr(), m_dtype_attr.ptr());
    if (!dtype) throw py::error_already_set();
    const bool same_dtype = dtype == w.torch_dtype.ptr();
    Py_DECREF(dtype);
    if (same_dtype) {
      PyObject *ptr = call_method(tensor.ptr(), m_data_ptr_attr.ptr());
      if (ptr) {
        const auto value = uintptr_t(PyLong_AsVoidPtr(ptr));
        Py_DECREF(ptr);
        if (!PyErr_Occurred() && value == w.ptr) return;
        // Moved, as gradients do at every step after zero_grad(set_to_none=True): rebound here
        // when nothing else changed, which costs a few attribute reads rather than describe()'s
        // Python code (about 5x more, per tensor and step).
        if (!PyErr_Occurred() && value != 0 && moved_in_place(w, tensor)) {
          if (ttap_rebind(m_session, w.handle, reinterpret_cast<const void *>(value)) != TTAP_OK) {
            drop(w, ttap_last_error());
            return;
          }
          w.ptr = value;
          return;
        }
      }
      PyErr_Clear();  // e.g. a sparse gradient has no data_ptr(): describe() says why
    }
  }
  bind(w, tensor);
}

void python_session::step(int64_t step, const py::object &current_stream) {
  ttap_session *s = live();
  for (watched_tensor &w : m_watched) {
    if (w.removed || w.dropped) continue;
    try {
      refresh(w);
    } catch (py::error_already_set &e) {
      // A tensor whose attributes cannot be read is dropped, never the training step.
      drop(w, e.what());
    }
  }
  void *stream = nullptr;
  if (m_bound_on_cuda > 0) stream = reinterpret_cast<void *>(current_stream().cast<uintptr_t>());
  ttap_status st;
  {
    py::gil_scoped_release release;  // the cpu executor may summarize for a while
    st = ttap_step(s, step, stream);
  }
  check(st);
}

void python_session::observe(const std::string &name, uintptr_t ptr, int dtype, uint64_t numel,
                             int kind, int64_t step, uintptr_t stream) {
  ttap_session *s = live();
  ttap_status st;
  {
    py::gil_scoped_release release;
    st = ttap_observe(s, name.c_str(), reinterpret_cast<const void *>(ptr), ttap_dtype(dtype),
                      numel, ttap_kind(kind), step, reinterpret_cast<void *>(stream));
  }
  check(st);
}

void python_session::log_scalar(const std::string &name, double value, int64_t step) {
  check(ttap_log_scalar(live(), name.c_str(), value, step));
}

py::dict python_session::verdict(int64_t step) {
  ttap_session *s = live();
  ttap_verdict_t v;
  ttap_status st;
  {
    py::gil_scoped_release release;  // may wait for the device, and in a group for the others
    st = ttap_verdict(s, step, &v);
  }
  check(st);
  py::dict d;
  d["action"] = v.action == TTAP_ACTION_SKIP    ? "skip"
                : v.action == TTAP_ACTION_ABORT ? "abort"
                                                : "none";
  d["sampled"] = bool(v.sampled);
  d["nonfinite_tensors"] = v.nonfinite_tensors;
  py::object first = py::none();
  for (const watched_tensor &w : m_watched)
    if (w.registered && w.handle == v.first_tensor) first = py::str(w.name);
  d["first_tensor"] = first;
  d["spike"] = bool(v.spike);
  return d;
}

py::list python_session::take_alerts() {
  ttap_session *s = live();
  py::list out;
  for (;;) {
    ttap_alert_t a;
    int32_t has = 0;
    check(ttap_next_alert(s, &a, &has));
    if (!has) break;
    py::dict d;
    d["step"] = a.step;
    d["rank"] = a.rank;
    d["type"] = py::str(a.type);
    // Names and messages come from the trainer: undecodable bytes are replaced, never raised.
    d["tensor"] = py::reinterpret_steal<py::object>(
        PyUnicode_DecodeUTF8(a.tensor, Py_ssize_t(std::strlen(a.tensor)), "replace"));
    d["message"] = py::reinterpret_steal<py::object>(
        PyUnicode_DecodeUTF8(a.message, Py_ssize_t(std::strlen(a.message)), "replace"));
    out.append(std::move(d));
  }
  return out;
}

void python_session::set_group(const std::string &kind, uintptr_t comm) {
  ttap_session *s = live();
  ttap_status st;
  {
    py::gil_scoped_release release;  // collective: waits until every rank of the group is here
    st = ttap_set_group(s, kind.c_str(), reinterpret_cast<void *>(comm));
  }
  check(st);
}

void python_session::flush() {
  ttap_session *s = live();
  ttap_status st;
  {
    py::gil_scoped_release release;  // waits for samples in flight and the store
    st = ttap_flush(s);
  }
  check(st);
}

void python_session::close() {
  if (!m_session) return;
  ttap_session *s = m_session;
  m_session = nullptr;
  m_watched.clear();  // the runtime forgets every pointer at close; drop the owners now
  m_bound_on_cuda = 0;
  ttap_status st;
  {
    py::gil_scoped_release release;
    st = ttap_close(s);
  }
  check(st);
}

py::dict effective_config(const std::optional<std::string> &run_dir, const std::string &options) {
  // The runtime's own resolution (defaults, TTAP_* environment, options), so that the Python side
  // reports the run directory and follows the budget exactly as the session will.
  session_config c;
  std::string error;
  if (!make_session_config(run_dir ? run_dir->c_str() : nullptr,
                           options.empty() ? nullptr : options.c_str(), &c, &error)) {
    throw status_error(TTAP_ERR_INVALID_ARGUMENT, std::string("invalid argument: ") + error);
  }
  py::dict d;
  d["run_dir"] = c.run_dir;
  d["every"] = c.every;
  d["interval_ms"] = c.interval_ms;
  d["budget"] = c.budget;
  d["backend"] = backend_name(c.backend);
  d["flush_ms"] = c.flush_ms;
  d["on_nonfinite"] = response_policy_text(c.on_nonfinite);
  d["on_spike"] = response_policy_text(c.on_spike);
  d["rank"] = c.rank;
  d["world"] = c.world;
  return d;
}

}  // namespace ttap::python
