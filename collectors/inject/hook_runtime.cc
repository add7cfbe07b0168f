// The shared state of the interposers (hook_runtime.h): one object per process, built at the first
// hooked call. The tensortap session is opened through the public C API of libttap: the copy the
// program already has if it links libttap (found by its soname), else the one next to this library,
// loaded with RTLD_LOCAL on first use. So there is never a second runtime in the process.
#include "collectors/inject/hook_runtime.h"

#include <dlfcn.h>
#include <fnmatch.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>

#include "collectors/inject/flight_recorder.h"
#include "collectors/inject/next_symbol.h"
#include "collectors/inject/range_path.h"
#include "collectors/inject/step_inference.h"
#include "runtime/clock.h"
#include "runtime/config.h"
#include "runtime/log.h"
#include "runtime/sampler.h"
#include "ttap/ttap.h"

#ifndef TTAP_LIBTTAP_SONAME
#define TTAP_LIBTTAP_SONAME "libttap.so.0"
#endif

// Every copy of this library exports this marker, pointing at a static of its own; the copy whose
// marker the global lookup finds first is the primary one and the only one that records (see
// hooks_active()). The comparison goes through the static: the address of an exported symbol
// taken inside a copy is itself subject to interposition and would name the primary's.
static const char g_this_copy = 0;
extern "C" {
__attribute__((visibility("default"))) const void *ttap_inject_instance = &g_this_copy;
}

namespace ttap::inject {
namespace {

thread_local int t_hook_depth = 0;
std::atomic<bool> g_forked_child{false};
std::atomic<bool> g_in_use{false};
std::atomic<void (*)(int64_t)> g_step_listener{nullptr};
std::atomic<void (*)()> g_exit_listener{nullptr};

const char *lib_name(comm_lib lib) { return lib == comm_lib::mpi ? "mpi" : "nccl"; }

// The C API of libttap, resolved from the loaded library.
struct libttap_api {
  decltype(&ttap_open) open = nullptr;
  decltype(&ttap_observe) observe = nullptr;
  decltype(&ttap_log_scalar) log_scalar = nullptr;
  decltype(&ttap_flush) flush = nullptr;
  decltype(&ttap_close) close = nullptr;
  decltype(&ttap_last_error) last_error = nullptr;
};

// Who reads the buffers the session is given.
enum class summary_device {
  host,      // the cpu executor: host memory only
  cuda,      // the session has a GPU: device pointers go to the fused kernel on the call's stream
  emulated,  // TTAP_BACKEND=emulated: host memory through the emulated kernel, on its own stream
};

// Whether the cpu executor may read `ptr`: not when CUDA says it is device memory. Without CUDA in
// the process, or when CUDA cannot answer (no driver), there is no device memory to worry about.
bool host_readable(const void *ptr) {
  struct pointer_attributes {
    int type;  // cudaMemoryType: 0 unregistered, 1 host, 2 device, 3 managed
    int device;
    void *device_pointer;
    void *host_pointer;
    long reserved[8];  // room for fields later CUDA versions add
  };
  using get_attributes_fn = int (*)(pointer_attributes *, const void *);
  using get_last_error_fn = int (*)();
  static auto *get =
      reinterpret_cast<get_attributes_fn>(dlsym(RTLD_DEFAULT, "cudaPointerGetAttributes"));
  if (!get) return true;
  pointer_attributes a{};
  if (get(&a, ptr) != 0) {
    // Clear the error this query left, so the program does not see it as its own.
    static auto *clear =
        reinterpret_cast<get_last_error_fn>(dlsym(RTLD_DEFAULT, "cudaGetLastError"));
    if (clear) clear();
    return true;
  }
  return a.type != 2;
}

class hook_runtime {
 public:
  static hook_runtime &get() {
    // Built on first use and never destroyed: hooks may run during static destruction.
    static hook_runtime *runtime = new hook_runtime();
    return *runtime;
  }

  call_ticket begin(const collective_call &c);
  void end(const call_ticket &t, const collective_call &c, int status, bool completed);
  void complete(const call_ticket &t, const collective_call &c);
  void range_opened(const char *name);
  void checkpoint(const char *reason);
  void store_scalar(const std::string &name, double value, int64_t step);
  flight_recorder &flight() { return m_flight; }

 private:
  hook_runtime();
  bool ensure_session();
  ttap_status open_session();
  void observe(const std::string &name, const collective_call &c, const void *ptr, uint64_t count,
               int64_t step);
  void step_opened(int64_t step);  // with m_mutex held
  void install_triggers();
  void dump(const char *reason);
  void at_exit();
  static void at_exit_trampoline() { get().at_exit(); }
  static void dumper_loop();
  static void *dumper_thread(void *) {
    dumper_loop();
    return nullptr;
  }

  session_config m_config;
  bool m_config_ok = false;
  std::string m_step_range;
  bool m_summarize_results = false;
  // Reductions of fewer elements are not summarized (hooks_min_elements()).
  uint64_t m_min_elements = hooks_min_elements();
  std::string
      m_grad_globs;  // stored names that are gradients ('|'-joined globs); others: collective
  flight_recorder m_flight;

  std::mutex m_mutex;  // steps and the sampling decision
  step_inference m_steps;
  std::unique_ptr<sampler> m_sampler;
  bool m_step_due = true;
  int64_t m_due_step = -1;
  std::atomic<int64_t> m_step_cost_ns{0};

  std::mutex m_session_mutex;
  enum class session_state { unopened, open, off } m_session_state = session_state::unopened;
  libttap_api m_api;
  ttap_session *m_session = nullptr;
  summary_device m_device = summary_device::host;

  std::once_flag m_triggers_once;
  pid_t m_pid = 0;
  std::mutex m_dump_mutex;
};

hook_runtime::hook_runtime()
    : m_flight(size_t(process_knob("flight_entries").integer), 64), m_pid(getpid()) {
  std::string error;
  m_config_ok = make_session_config(nullptr, nullptr, &m_config, &error);
  if (!m_config_ok) warn_once("hooks-config", "hooks: %s: summaries off", error.c_str());
  m_sampler = std::make_unique<sampler>(m_config);
  m_step_range = process_knob("step_range").text;
  if (!m_step_range.empty()) m_steps.use_step_range();
  m_summarize_results = process_knob("hooks_recv").integer == 1;
  m_grad_globs = process_knob("hooks_grad").text;
}

// Whether a stored name is one the user mapped as a gradient (TTAP_HOOKS_GRAD).
bool matches_any(const std::string &globs, const std::string &name) {
  size_t start = 0;
  while (start <= globs.size() && !globs.empty()) {
    size_t bar = globs.find('|', start);
    std::string glob =
        globs.substr(start, bar == std::string::npos ? std::string::npos : bar - start);
    if (!glob.empty() && fnmatch(glob.c_str(), name.c_str(), 0) == 0) return true;
    if (bar == std::string::npos) break;
    start = bar + 1;
  }
  return false;
}

bool hook_runtime::ensure_session() {
  std::lock_guard<std::mutex> lock(m_session_mutex);
  if (m_session_state != session_state::unopened) return m_session_state == session_state::open;
  m_session_state = session_state::off;
  if (!m_config_ok) return false;
  // A program that links libttap itself shares this copy (found by soname); its session and the
  // hooks' one write separate tensor-id ranges in the store, so both kinds of telemetry are kept.
  void *lib = dlopen(TTAP_LIBTTAP_SONAME, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    // Next to this library (where the build and the install put it): found by our RUNPATH
    // normally, but a dlopen interposed by a sanitizer runtime is resolved as the runtime's call.
    Dl_info self{};
    if (dladdr(reinterpret_cast<void *>(&hook_runtime::get), &self) && self.dli_fname) {
      const auto beside = std::filesystem::path(self.dli_fname).parent_path() / TTAP_LIBTTAP_SONAME;
      lib = dlopen(beside.c_str(), RTLD_NOW | RTLD_LOCAL);
    }
  }
  if (!lib) {
    warn_once("hooks-libttap", "hooks: cannot load %s (%s): collective summaries off",
              TTAP_LIBTTAP_SONAME, dlerror());
    return false;
  }
  auto resolve = [lib](auto &fn, const char *name) {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, name));
    return fn != nullptr;
  };
  if (!resolve(m_api.open, "ttap_open") || !resolve(m_api.observe, "ttap_observe") ||
      !resolve(m_api.log_scalar, "ttap_log_scalar") || !resolve(m_api.flush, "ttap_flush") ||
      !resolve(m_api.close, "ttap_close") || !resolve(m_api.last_error, "ttap_last_error")) {
    warn_once("hooks-libttap", "hooks: %s lacks the C API: collective summaries off",
              TTAP_LIBTTAP_SONAME);
    return false;
  }
  // backend=auto is resolved here rather than in the session, so the hooks know whether device
  // pointers have a reader: a GPU session if one can be had, else an explicit cpu session.
  ttap_status st = open_session();
  if (st != TTAP_OK) {
    warn_once("hooks-open", "hooks: cannot open a session: %s: collective summaries off",
              m_api.last_error());
    return false;
  }
  m_session_state = session_state::open;
  return true;
}

ttap_status hook_runtime::open_session() {
  ttap_status st;
  switch (m_config.backend) {
    case backend_choice::automatic:
      st = m_api.open(nullptr, "backend=cuda", &m_session);
      m_device = summary_device::cuda;
      if (st == TTAP_ERR_NO_DEVICE) {
        st = m_api.open(nullptr, "backend=cpu", &m_session);
        m_device = summary_device::host;
      }
      break;
    case backend_choice::cuda:
      st = m_api.open(nullptr, nullptr, &m_session);
      m_device = summary_device::cuda;
      break;
    case backend_choice::emulated:
      st = m_api.open(nullptr, nullptr, &m_session);
      m_device = summary_device::emulated;
      break;
    default:
      st = m_api.open(nullptr, nullptr, &m_session);
      m_device = summary_device::host;
      break;
  }
  return st;
}

void hook_runtime::step_opened(int64_t step) {
  const int64_t now = monotonic_ns();
  if (m_due_step >= 0 && m_step_due)
    m_sampler->sample_taken(m_due_step, now, m_step_cost_ns.exchange(0));
  m_step_due = m_sampler->due(step, now);
  m_due_step = step;
  m_step_cost_ns.store(0);
}

void hook_runtime::observe(const std::string &name, const collective_call &c, const void *ptr,
                           uint64_t count, int64_t step) {
  if (!ensure_session()) return;
  void *stream = nullptr;
  if (m_device == summary_device::cuda) {
    stream = c.stream;
  } else if (c.lib == comm_lib::nccl && !host_readable(ptr)) {
    warn_once("hooks-device-ptr",
              "hooks: NCCL buffers are device memory and the session has no GPU: not summarized");
    return;
  }
  const int64_t t0 = monotonic_ns();
  const ttap_kind kind = matches_any(m_grad_globs, name) ? TTAP_GRAD : TTAP_COLLECTIVE;
  ttap_status st =
      m_api.observe(m_session, name.c_str(), ptr, ttap_dtype(c.dtype), count, kind, step, stream);
  m_step_cost_ns.fetch_add(monotonic_ns() - t0);
  if (st != TTAP_OK) {
    TTAP_INFO("hooks: %s not summarized: %s", name.c_str(), m_api.last_error());
    warn_once("hooks-observe", "hooks: a summary failed (%s); later failures are logged at INFO",
              m_api.last_error());
  }
}

void hook_runtime::install_triggers() {
  std::call_once(m_triggers_once, [] {
    g_in_use.store(true);
    // A bare pthread rather than a detached std::thread: the dumper never returns, so the state a
    // std::thread allocates for it would never be freed (LeakSanitizer reported those 16 bytes at
    // every hooked process's exit).
    pthread_t dumper;
    if (pthread_create(&dumper, nullptr, dumper_thread, nullptr) == 0)
      pthread_detach(dumper);
    else
      warn_once("hooks-dumper", "hooks: no SIGUSR1 dumps: cannot start the dumper thread");
    std::atexit(at_exit_trampoline);
    pthread_atfork(nullptr, nullptr, [] { g_forked_child.store(true); });
  });
}

sem_t g_dump_request;
struct sigaction g_previous_usr1;
// Set when SIGUSR1 arrived under the default disposition: after the dump, the process ends by
// SIGUSR1 as it would have without the hooks.
volatile sig_atomic_t g_reraise_usr1 = 0;

void on_sigusr1(int sig, siginfo_t *info, void *context) {
  // Async-signal-safe: only wake the dumper thread, then chain the handler that was there before.
  const int saved_errno = errno;
  if (!(g_previous_usr1.sa_flags & SA_SIGINFO) && g_previous_usr1.sa_handler == SIG_DFL) {
    g_reraise_usr1 = 1;
  }
  sem_post(&g_dump_request);
  if (g_previous_usr1.sa_flags & SA_SIGINFO) {
    if (g_previous_usr1.sa_sigaction) g_previous_usr1.sa_sigaction(sig, info, context);
  } else if (g_previous_usr1.sa_handler != SIG_DFL && g_previous_usr1.sa_handler != SIG_IGN) {
    g_previous_usr1.sa_handler(sig);
  }
  errno = saved_errno;
}

void hook_runtime::dumper_loop() {
  sem_init(&g_dump_request, 0, 0);
  struct sigaction sa {};
  sa.sa_sigaction = on_sigusr1;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR1, &sa, &g_previous_usr1);
  for (;;) {
    if (sem_wait(&g_dump_request) != 0) continue;  // EINTR
    if (g_forked_child.load()) continue;
    get().dump("SIGUSR1");
    if (g_reraise_usr1) {
      // The default action (terminate) once the dump is on disk; raise() would only reach this
      // thread's disposition, which is now the default again, and ends the whole process.
      signal(SIGUSR1, SIG_DFL);
      raise(SIGUSR1);
    }
  }
}

void hook_runtime::dump(const char *reason) {
  std::lock_guard<std::mutex> lock(m_dump_mutex);
  flight_header h;
  h.rank = m_config.rank;
  h.world = m_config.world;
  h.pid = getpid();
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  h.host = host;
  h.reason = reason;
  h.time = wall_time();
  std::error_code ec;
  std::filesystem::create_directories(m_config.run_dir, ec);
  const std::string path =
      m_config.run_dir + "/flight-rank" + std::to_string(m_config.rank) + ".jsonl";
  std::string error;
  if (!m_flight.write(path, h, &error))
    warn_once("flight-write", "hooks: cannot write the flight recorder: %s", error.c_str());
}

void hook_runtime::at_exit() {
  if (g_forked_child.load() || getpid() != m_pid) return;
  if (auto listener = g_exit_listener.load()) listener();
  dump("exit");
  std::lock_guard<std::mutex> lock(m_session_mutex);
  if (m_session_state == session_state::open) {
    if (m_api.close(m_session) != TTAP_OK)
      warn_once("hooks-close", "hooks: closing the session: %s", m_api.last_error());
    m_session_state = session_state::off;
  }
}

call_ticket hook_runtime::begin(const collective_call &c) {
  call_ticket t;
  install_triggers();
  const bool summarizable = c.reduction && c.dtype >= 0 && c.contribution && c.count > 0 &&
                            c.count >= m_min_elements && !c.capturing && ensure_session();
  flight_entry e;
  e.op = c.op;
  e.dtype = c.dtype_name;
  e.redop = c.redop;
  e.count = c.count;
  e.root = c.root;
  e.peer = c.peer;
  e.stream = uint64_t(reinterpret_cast<uintptr_t>(c.stream));
  e.enqueue_time = wall_time();
  e.in_group = c.in_group;
  e.capturing = c.capturing;
  bool opened = false;
  bool summarize = false;
  {
    std::lock_guard<std::mutex> lock(m_mutex);
    if (c.reduction && !m_steps.range_mode()) {
      reduction_key key{c.comm, c.contribution, c.count, c.dtype, c.op};
      e.step = m_steps.on_reduction(key, &opened);
      if (opened) step_opened(e.step);
    } else {
      e.step = m_steps.current();
    }
    if (summarizable && m_step_due && m_steps.in_step()) {
      const std::string path(range_path());
      std::string base = (path.empty() ? "" : path + "/") + lib_name(c.lib) + "." + c.op;
      e.tensor = base + "." + std::to_string(m_steps.next_index(base));
      summarize = true;
    }
  }
  t.recorded = true;
  t.comm = c.comm;
  t.step = e.step;
  const std::string name = e.tensor;
  t.seq = m_flight.record(c.comm, lib_name(c.lib), std::move(e));
  if (opened) {
    if (auto listener = g_step_listener.load()) listener(t.step);
  }
  if (summarize) {
    observe(name, c, c.contribution, c.count, t.step);
    if (m_summarize_results && c.result && c.result_count > 0) t.result_name = name + ".out";
  }
  return t;
}

void hook_runtime::end(const call_ticket &t, const collective_call &c, int status, bool completed) {
  if (!t.recorded) return;
  m_flight.complete(t.comm, t.seq, completed ? wall_time() : -1, status);
  // A device-ordered result summary is enqueued right after the collective on its stream; in an
  // NCCL group the collective is launched only at ncclGroupEnd, so that waits (complete()).
  const bool ordered = completed || (c.lib == comm_lib::nccl && !c.in_group);
  if (status == 0 && ordered && !t.result_name.empty())
    observe(t.result_name, c, c.result, c.result_count, t.step);
}

void hook_runtime::complete(const call_ticket &t, const collective_call &c) {
  if (!t.recorded) return;
  m_flight.complete(t.comm, t.seq, c.lib == comm_lib::mpi ? wall_time() : -1, 0);
  if (!t.result_name.empty()) observe(t.result_name, c, c.result, c.result_count, t.step);
}

void hook_runtime::range_opened(const char *name) {
  if (m_step_range.empty() || !name || m_step_range != name) return;
  int64_t step;
  {
    std::lock_guard<std::mutex> lock(m_mutex);
    bool opened = false;
    step = m_steps.step_range_opened(&opened);
    step_opened(step);
  }
  if (auto listener = g_step_listener.load()) listener(step);
}

void hook_runtime::checkpoint(const char *reason) {
  dump(reason);
  std::lock_guard<std::mutex> lock(m_session_mutex);
  if (m_session_state == session_state::open && m_api.flush(m_session) != TTAP_OK)
    warn_once("hooks-flush", "hooks: flushing the session: %s", m_api.last_error());
}

void hook_runtime::store_scalar(const std::string &name, double value, int64_t step) {
  if (!ensure_session()) return;
  if (m_api.log_scalar(m_session, name.c_str(), value, step) != TTAP_OK)
    warn_once("hooks-scalar", "hooks: storing %s: %s", name.c_str(), m_api.last_error());
}

}  // namespace

hook_scope::hook_scope() : m_outermost(t_hook_depth++ == 0) {}
hook_scope::~hook_scope() { --t_hook_depth; }

bool hooks_active() {
  static const bool primary = [] {
    auto *first = static_cast<const void *const *>(dlsym(RTLD_DEFAULT, "ttap_inject_instance"));
    return !first || *first == &g_this_copy;
  }();
  return primary && !g_forked_child.load(std::memory_order_relaxed);
}

bool hooks_in_use() { return g_in_use.load(std::memory_order_relaxed); }

namespace detail {
std::atomic<uint64_t> g_known_min_elements{0};
}

uint64_t hooks_min_elements() {
  // Small messages are latency-bound and are rarely gradients (a benchmark's timings, a loss, a
  // flag): the hooks leave them alone entirely.
  static const uint64_t value = [] {
    const uint64_t n = uint64_t(process_knob("hooks_min_elements").integer);
    detail::g_known_min_elements.store(n, std::memory_order_relaxed);
    return n;
  }();
  return value;
}

// The hooks are called from C code (MPI, NCCL, the program): no exception may leave them.
template <class Body>
void guarded(Body &&body) {
  try {
    body();
  } catch (const std::exception &e) {
    warn_once("hooks-exception", "hooks: internal error (%s): call not recorded", e.what());
  } catch (...) {
    warn_once("hooks-exception", "hooks: internal error: call not recorded");
  }
}

call_ticket begin_call(const collective_call &call) {
  call_ticket t;
  guarded([&] { t = hook_runtime::get().begin(call); });
  return t;
}

void end_call(const call_ticket &ticket, const collective_call &call, int status, bool completed) {
  guarded([&] { hook_runtime::get().end(ticket, call, status, completed); });
}

void complete_call(const call_ticket &ticket, const collective_call &call) {
  guarded([&] { hook_runtime::get().complete(ticket, call); });
}

void note_comm(const void *comm, comm_lib lib, int32_t rank, int32_t size, const char *origin,
               const void *parent) {
  guarded([&] {
    hook_runtime::get().flight().note_comm(comm, lib_name(lib), rank, size, origin, parent);
  });
}

void note_comm_destroyed(const void *comm) {
  guarded([&] { hook_runtime::get().flight().note_comm_destroyed(comm); });
}

bool knows_comm(const void *comm) { return hook_runtime::get().flight().knows_comm(comm); }

int32_t comm_size(const void *comm) { return hook_runtime::get().flight().comm_size(comm); }

void range_opened(const char *name) {
  guarded([&] { hook_runtime::get().range_opened(name); });
}

void checkpoint(const char *reason) {
  guarded([&] { hook_runtime::get().checkpoint(reason); });
}

void store_scalar(const std::string &name, double value, int64_t step) {
  guarded([&] { hook_runtime::get().store_scalar(name, value, step); });
}

void set_step_listener(void (*listener)(int64_t)) { g_step_listener.store(listener); }
void set_exit_listener(void (*listener)()) { g_exit_listener.store(listener); }

double wall_time() { return wall_seconds(); }

}  // namespace ttap::inject
