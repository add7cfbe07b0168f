// Session set-up (run directory, backend, store, collector), the tensor registry and the sampling
// path of ttap_step / ttap_observe: host tensors through the cpu executor, device tensors through
// the fused kernel, both posted to the collector without waiting.
#include "runtime/session.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string_view>
#include <thread>

#include "runtime/clock.h"
#include "runtime/errors.h"
#include "runtime/group/tensor_roles.h"
#include "runtime/log.h"
#include "runtime/response/forensic_dump.h"
#include "runtime/sinks/sink.h"
#include "runtime/store/store_files.h"

#ifndef TTAP_VERSION_STRING
#define TTAP_VERSION_STRING "0.0.0"
#endif

namespace ttap {
namespace {

constexpr uint64_t kMaxNumel = uint64_t(1) << 40;
constexpr int32_t kMaxShapeDims = 8;

// Creates `dir` (and parents) and checks it is a writable directory.
ttap_status prepare_run_dir(const std::string &dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return fail(TTAP_ERR_IO, "cannot create run directory '" + dir + "': " + ec.message());
  if (!std::filesystem::is_directory(dir, ec)) {
    return fail(TTAP_ERR_IO, "run directory '" + dir + "' exists and is not a directory");
  }
  if (access(dir.c_str(), W_OK | X_OK) != 0) {
    return fail(TTAP_ERR_IO,
                "run directory '" + dir + "' is not writable: " + std::strerror(errno));
  }
  return TTAP_OK;
}

std::string hostname() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0) return "unknown";
  return name;
}

}  // namespace

session::~session() {
  if (!m_closed) close();
}

ttap_status session::open(const char *run_dir, const char *options, std::unique_ptr<session> *out) {
  std::unique_ptr<session> s(new session());
  std::string error;
  if (!make_session_config(run_dir, options, &s->m_config, &error))
    return fail(TTAP_ERR_INVALID_ARGUMENT, error);
  session_config &c = s->m_config;
  set_log_rank(c.rank);
  // A verdict can only judge a step that was sampled: with skip or dump every step is sampled,
  // whatever every, interval_ms and the budget say.
  if (c.on_nonfinite.acts_at_verdict() || c.on_spike.acts_at_verdict()) {
    if (c.every != 1 || c.interval_ms != 0 || c.budget != 0)
      TTAP_INFO(
          "on_nonfinite=%s, on_spike=%s: every step is sampled (every=1, interval_ms=0, "
          "budget=0)",
          response_policy_text(c.on_nonfinite).c_str(), response_policy_text(c.on_spike).c_str());
    c.every = 1;
    c.interval_ms = 0;
    c.budget = 0;
    s->m_hold_device_samples = true;
  }
  s->m_judge = std::make_unique<step_judge>(c);
  // Without a chosen directory a run never lands in one holding an earlier run: it takes the next
  // free ttap-run-N (as ttap run does) and says so. A live run there is joined (other ranks, the
  // hooks' session next to the program's). Without a store there is nothing to keep apart.
  if (c.store && !c.run_dir_given && !c.append && holds_earlier_run(c.run_dir)) {
    const std::string base = c.run_dir;
    for (int n = 2; holds_earlier_run(c.run_dir); ++n) c.run_dir = base + "-" + std::to_string(n);
    TTAP_WARN(
        "%s holds an earlier run: this run is stored in %s (pass a run directory, or "
        "mode=append to add to %s)",
        base.c_str(), c.run_dir.c_str(), base.c_str());
  }
  TTAP_CHECK(prepare_run_dir(c.run_dir));
  // Absolute now: the program may change its working directory later.
  std::error_code ec;
  s->m_run_dir = std::filesystem::absolute(c.run_dir, ec).lexically_normal().string();
  if (ec) s->m_run_dir = c.run_dir;
  if (s->m_run_dir.size() > 1 && s->m_run_dir.back() == '/') s->m_run_dir.pop_back();

  // Backends: the cpu executor always (host tensors); a device when configured or found.
  switch (c.backend) {
    case backend_choice::cpu:
      break;
    case backend_choice::emulated: {
      emulated_device_model model;  // its device time is modeled (emulated_gbps)
      model.gbps = s->m_config.emulated_gbps;
      s->m_device = make_emulated_device(model);
      break;
    }
    case backend_choice::cuda: {
      std::string why_not;
      s->m_device = make_cuda_device(&why_not);
      if (!s->m_device) return fail(TTAP_ERR_NO_DEVICE, "backend=cuda: " + why_not);
      break;
    }
    case backend_choice::automatic: {
      std::string why_not;
      s->m_device = make_cuda_device(&why_not);
      if (!s->m_device) TTAP_INFO("no GPU (%s): host tensors only, cpu executor", why_not.c_str());
      break;
    }
  }
  if (s->m_device) s->m_ring = std::make_unique<sample_ring>(*s->m_device, 4);
  s->m_cpu = std::make_unique<cpu_executor>();
  s->m_sampler = std::make_unique<sampler>(c);

  run_info info;
  info.run_dir = c.run_dir;
  info.rank = c.rank;
  info.world = c.world;
  info.options = c.to_string();
  info.version = TTAP_VERSION_STRING;
  info.host = hostname();
  info.pid = getpid();
  info.start_time = wall_seconds();
  info.append = c.append;
  std::unique_ptr<store> st;  // none with store=off
  if (c.store && !(st = store::open(info, &error)))
    return fail(TTAP_ERR_IO, "cannot open the store in '" + c.run_dir + "': " + error);
  s->m_inbox = std::make_shared<alert_inbox>();
  std::unique_ptr<sink> sinks = make_sinks(c, info.host, std::move(st), &error, s->m_inbox);
  if (!sinks) return fail(TTAP_ERR_IO, error);
  s->m_collector =
      std::make_unique<collector>(c, std::move(sinks), s->m_ring.get(), &s->m_counters);
  *out = std::move(s);
  return TTAP_OK;
}

ttap_status session::validate_tensor(const char *name, const void *ptr, int32_t dtype,
                                     uint64_t numel, int32_t kind) const {
  if (!name) return fail(TTAP_ERR_INVALID_ARGUMENT, "name is NULL");
  if (!*name) return fail(TTAP_ERR_INVALID_ARGUMENT, "name is empty");
  if (!ptr && numel > 0) {
    return fail(
        TTAP_ERR_INVALID_ARGUMENT,
        std::string("tensor '") + name + "': ptr is NULL with numel " + std::to_string(numel));
  }
  if (dtype < 0 || dtype >= TTAP_NUM_DTYPES) {
    return fail(TTAP_ERR_INVALID_ARGUMENT, std::string("tensor '") + name + "': dtype " +
                                               std::to_string(dtype) +
                                               " is out of range (TTAP_F32 .. TTAP_F64)");
  }
  if (kind < 0 || kind >= TTAP_NUM_KINDS) {
    return fail(TTAP_ERR_INVALID_ARGUMENT, std::string("tensor '") + name + "': kind " +
                                               std::to_string(kind) +
                                               " is out of range (TTAP_GRAD .. TTAP_COLLECTIVE)");
  }
  if (numel > kMaxNumel) {
    return fail(TTAP_ERR_INVALID_ARGUMENT, std::string("tensor '") + name + "': numel " +
                                               std::to_string(numel) +
                                               " is above the limit of 2^40");
  }
  return TTAP_OK;
}

bool session::placed_on_device(const void *ptr) const {
  if (!m_device || !ptr) return false;
  return m_device->is_device_pointer(ptr);
}

int32_t session::register_tensor(const std::string &name, ttap_dtype dtype, uint64_t numel,
                                 ttap_kind kind, bool observed) {
  tensor_entry e;
  e.info.id = int32_t(m_tensors.size());
  e.info.name = name;
  e.info.kind = tensor_kind(kind);
  e.info.type = ttap::dtype(dtype);
  e.info.numel = numel;
  e.observed = observed;
  e.role = role_of(name, e.info.kind, m_config);
  m_by_name.emplace(name, e.info.id);
  m_tensors.push_back(e);
  m_collector->post_tensor(e.info);
  return e.info.id;
}

void session::rebuild_watch_list() {
  std::vector<watch_entry> entries;  // in id order (registration order): ids ascend
  for (tensor_entry &e : m_tensors) {
    if (!e.watched) continue;
    entries.push_back(
        {e.info.id, &e.info.name, e.info.type, e.info.numel, e.role, e.ptr, e.on_device});
  }
  m_watch = watch_list::build(entries, m_in_group);
  if (m_in_group && m_watch->layout_hash() != m_announced_layout_hash) {
    group_layout layout;
    layout.hash = m_watch->layout_hash();
    layout.tensor_ids.assign(m_watch->ids().begin(), m_watch->ids().end());
    layout.roles.assign(m_watch->roles().begin(), m_watch->roles().end());
    m_announced_layout_hash = layout.hash;
    m_collector->post_layout(std::move(layout));
  }
}

ttap_status session::watch(const char *name, const void *ptr, int32_t dtype_bits, uint64_t numel,
                           int32_t kind_bits, int32_t *handle, const uint64_t *shape,
                           int32_t ndim) {
  if (!handle) return fail(TTAP_ERR_INVALID_ARGUMENT, "handle is NULL");
  TTAP_CHECK(validate_tensor(name, ptr, dtype_bits, numel, kind_bits));
  std::vector<uint64_t> dims;
  if (shape || ndim != 0) {
    if (ndim < 0 || ndim > kMaxShapeDims)
      return fail(TTAP_ERR_INVALID_ARGUMENT, std::string("tensor '") + name + "': ndim " +
                                                 std::to_string(ndim) + " is not in 0.." +
                                                 std::to_string(kMaxShapeDims));
    if (!shape && ndim > 0)
      return fail(
          TTAP_ERR_INVALID_ARGUMENT,
          std::string("tensor '") + name + "': shape is NULL with ndim " + std::to_string(ndim));
    uint64_t product = 1;
    bool overflow = false;
    for (int32_t d = 0; d < ndim; ++d) {
      dims.push_back(shape[d]);
      overflow = overflow || (shape[d] != 0 && product > UINT64_MAX / shape[d]);
      product *= shape[d];
    }
    if (overflow || product != numel) {
      std::string text;
      for (uint64_t d : dims) text += (text.empty() ? "" : ", ") + std::to_string(d);
      return fail(TTAP_ERR_INVALID_ARGUMENT, std::string("tensor '") + name + "': shape [" + text +
                                                 "] does not hold numel " + std::to_string(numel));
    }
  }
  const auto dtype = ttap_dtype(dtype_bits);
  const auto kind = ttap_kind(kind_bits);
  int32_t id;
  auto it = m_by_name.find(std::string_view(name));
  if (it != m_by_name.end()) {
    tensor_entry &e = m_tensors[size_t(it->second)];
    if (e.watched) {
      return fail(TTAP_ERR_INVALID_ARGUMENT, std::string("tensor '") + name +
                                                 "' is already watched (handle " +
                                                 std::to_string(e.info.id) + ")");
    }
    if (e.observed) {
      return fail(TTAP_ERR_INVALID_ARGUMENT,
                  std::string("name '") + name + "' is already used by ttap_observe");
    }
    // Watching an unwatched name again continues the same tensor, if it is the same tensor.
    if (e.info.type != ttap::dtype(dtype) || e.info.numel != numel ||
        e.info.kind != tensor_kind(kind)) {
      return fail(
          TTAP_ERR_INVALID_ARGUMENT,
          std::string("tensor '") + name + "' was watched before with another dtype, size or kind");
    }
    id = e.info.id;
  } else {
    id = register_tensor(name, dtype, numel, kind, false);
  }
  tensor_entry &e = m_tensors[size_t(id)];
  e.ptr = ptr;
  e.watched = true;
  e.on_device = placed_on_device(ptr);
  e.shape = std::move(dims);
  rebuild_watch_list();
  *handle = id;
  return TTAP_OK;
}

ttap_status session::rebind(int32_t handle, const void *ptr) {
  if (handle < 0 || size_t(handle) >= m_tensors.size() || !m_tensors[size_t(handle)].watched) {
    return fail(TTAP_ERR_INVALID_ARGUMENT,
                "unknown handle " + std::to_string(handle) + " (not watched)");
  }
  tensor_entry &e = m_tensors[size_t(handle)];
  if (!ptr && e.info.numel > 0) {
    return fail(TTAP_ERR_INVALID_ARGUMENT, "tensor '" + e.info.name + "': ptr is NULL with numel " +
                                               std::to_string(e.info.numel));
  }
  e.ptr = ptr;
  const bool on_device = placed_on_device(ptr);
  if (on_device == e.on_device) {
    // Only the address moved: the order of the lists and the layout's hash stay, so the pointer is
    // patched in place (see watch_list.h).
    const auto ids = m_watch->ids();
    const size_t index = size_t(std::lower_bound(ids.begin(), ids.end(), handle) - ids.begin());
    if (on_device)
      m_watch->move_device_tensor(m_watch->list_position(index), ptr);
    else
      m_watch->move_host_tensor(m_watch->list_position(index), ptr);
    return TTAP_OK;
  }
  e.on_device = on_device;
  rebuild_watch_list();
  return TTAP_OK;
}

ttap_status session::set_role(int32_t handle, int32_t role_bits) {
  if (handle < 0 || size_t(handle) >= m_tensors.size() || !m_tensors[size_t(handle)].watched) {
    return fail(TTAP_ERR_INVALID_ARGUMENT,
                "unknown handle " + std::to_string(handle) + " (not watched)");
  }
  if (role_bits < 0 || role_bits >= TTAP_NUM_ROLES) {
    return fail(TTAP_ERR_INVALID_ARGUMENT, "role " + std::to_string(role_bits) +
                                               " is out of range (TTAP_ROLE_AUTO .. "
                                               "TTAP_ROLE_SHARDED)");
  }
  std::optional<tensor_role> declared;
  switch (ttap_role(role_bits)) {
    case TTAP_ROLE_CONTRIBUTION:
      declared = tensor_role::contribution;
      break;
    case TTAP_ROLE_REPLICATED:
      declared = tensor_role::replicated;
      break;
    case TTAP_ROLE_SHARDED:
      declared = tensor_role::sharded;
      break;
    default:  // AUTO
      break;
  }
  tensor_entry &e = m_tensors[size_t(handle)];
  const tensor_role role = role_of(e.info.name, e.info.kind, m_config, declared);
  if (role == e.role) return TTAP_OK;
  e.role = role;
  // The role is part of the watch list's layout (fingerprints, the hash the ranks compare).
  rebuild_watch_list();
  return TTAP_OK;
}

ttap_status session::unwatch(int32_t handle) {
  if (handle < 0 || size_t(handle) >= m_tensors.size() || !m_tensors[size_t(handle)].watched) {
    return fail(TTAP_ERR_INVALID_ARGUMENT,
                "unknown handle " + std::to_string(handle) + " (not watched)");
  }
  m_tensors[size_t(handle)].watched = false;
  rebuild_watch_list();
  return TTAP_OK;
}

void session::take_sample(const std::shared_ptr<const watch_list> &list, int64_t step, void *stream,
                          bool group, bool judged) {
  posted_sample s;
  s.step = step;
  s.time = wall_seconds();
  s.sample_size = uint32_t(list->size());
  if (group) {
    s.group = true;
    s.layout_hash = list->layout_hash();
    s.step_seconds = m_sampler->mean_step_seconds();
    s.desired_stride = m_sampler->desired_stride();
  }
  // The device part first: when it cannot be submitted (every slot in flight, or the queue full),
  // the whole sample is skipped before any host work is spent on it.
  const auto device_tensors = list->device_tensors();
  if (!device_tensors.empty()) {
    if (!m_collector->has_room(list->size())) {
      ++m_counters.samples_skipped;
      return;
    }
    int slot = m_ring->submit(device_tensors, stream);
    if (slot == sample_ring::kSkipped) {
      ++m_counters.samples_skipped;
      return;
    }
    if (slot == sample_ring::kFailed) {
      warn_once("device-submit",
                "the device sample could not be enqueued (%s); skipping device samples",
                m_ring->last_error().c_str());
      ++m_counters.samples_skipped;
      return;
    }
    s.slot = slot;
    ++m_device_samples_posted;
    s.list = list;  // the collector names the slot's results from it (no copy of the ids)
  }
  const auto host_views = list->host_views();
  if (!host_views.empty()) {
    // A buffer the collector handed back keeps its size: resize() then neither allocates nor
    // zeroes, and every field below and every summary field is written anyway.
    m_collector->take_spare_records(&s.host, host_views.size());
    s.host.resize(host_views.size());
    // One job for all host tensors, written straight into the records (no copy).
    m_cpu->summarize(host_views, &s.host[0].stats, sizeof(sample_record));
    const auto ids = list->ids();
    const auto host_index = list->host_index();
    for (size_t k = 0; k < host_views.size(); ++k) {
      sample_record &r = s.host[k];
      r.rank = m_config.rank;
      r.step = step;
      r.time = s.time;
      r.tensor_id = ids[host_index[k]];
      r.index_in_sample = host_index[k];
      r.sample_size = s.sample_size;
    }
  }
  if (judged && s.slot >= 0 && m_hold_device_samples) {
    // Its verdict will wait for the device part; until then the sample stays here.
    m_held = std::move(s);
    m_held_stream = stream;
    m_holding = true;
    ++m_counters.samples_taken;
    return;
  }
  if (judged) judge(s.host, step);
  if (m_collector->post_sample(std::move(s))) {
    ++m_counters.samples_taken;
  } else {
    m_counters.records_dropped += list->size();
  }
}

void session::judge(std::vector<sample_record> &records, int64_t step) {
  m_judge->begin(step);
  for (const sample_record &r : records)
    if (r.tensor_id >= 0 && size_t(r.tensor_id) < m_tensors.size())
      m_judge->add(m_tensors[size_t(r.tensor_id)].info, r);
}

void session::post_held_sample() {
  if (!m_holding) return;
  m_holding = false;
  // The slot goes with it: the collector polls it as any device sample.
  if (!m_collector->post_sample(std::move(m_held)))
    m_counters.records_dropped += m_held.sample_size;
  m_held = posted_sample();
  note_unnoted_step();
}

void session::complete_held_sample() {
  posted_sample &s = m_held;
  // The one wait a verdict opts into: the device part of its step's sample.
  device_status st;
  while ((st = m_ring->poll(s.slot)) == device_status::not_ready)
    std::this_thread::sleep_for(std::chrono::microseconds(20));
  if (st == device_status::ok) {
    auto results = m_ring->results(s.slot);
    const auto device_ids = s.list->device_ids();
    const auto device_index = s.list->device_index();
    for (size_t k = 0; k < results.size() && k < device_ids.size(); ++k) {
      sample_record r;
      r.rank = m_config.rank;
      r.step = s.step;
      r.time = s.time;
      r.tensor_id = device_ids[k];
      r.index_in_sample = device_index[k];
      r.sample_size = s.sample_size;
      r.stats = results[k];
      s.host.push_back(r);
    }
    // Its device time counts toward the budget as the collector counts a posted sample's.
    const double device_seconds = m_ring->device_seconds(s.slot);
    if (device_seconds > 0) m_counters.device_ns += int64_t(device_seconds * 1e9);
    ++m_counters.device_samples;
    m_ring->release(s.slot);
  } else {
    warn_once("device-sample", "a device sample failed (%s); its tensors are left out",
              m_ring->last_error().c_str());
    m_counters.records_dropped += s.list->device_ids().size();
  }
  s.slot = -1;
  s.list = nullptr;  // a host-only sample now
  std::sort(s.host.begin(), s.host.end(), [](const sample_record &a, const sample_record &b) {
    return a.index_in_sample < b.index_in_sample;
  });
  judge(s.host, s.step);
  m_holding = false;
  const size_t records = s.host.size();
  if (!m_collector->post_sample(std::move(s)))
    m_counters.records_dropped += records;
  m_held = posted_sample();
  note_unnoted_step();
}

void session::note_unnoted_step() {
  if (m_unnoted_step < 0) return;
  m_collector->note_step(m_unnoted_step);
  m_unnoted_step = -1;
}

void session::observe_device_time() {
  const int64_t device_ns = m_counters.device_ns.load(std::memory_order_relaxed);
  const uint64_t samples = m_counters.device_samples.load(std::memory_order_relaxed);
  if (samples == m_device_samples_seen) return;
  m_sampler->device_time_observed((device_ns - m_device_ns_seen) /
                                  int64_t(samples - m_device_samples_seen));
  m_device_ns_seen = device_ns;
  m_device_samples_seen = samples;
}

ttap_status session::step(int64_t step, void *stream) {
  if (step < -1)
    return fail(TTAP_ERR_INVALID_ARGUMENT, "step " + std::to_string(step) + " is negative");
  if (step == -1) {
    if (m_step == INT64_MAX)
      return fail(TTAP_ERR_INVALID_ARGUMENT, "step -1 (the next step) after step " +
                                                 std::to_string(m_step) +
                                                 ": there is no step after INT64_MAX");
    step = m_step + 1;
  }
  if (step < m_step) {
    return fail(TTAP_ERR_INVALID_ARGUMENT, "step " + std::to_string(step) +
                                               " goes backwards (last step " +
                                               std::to_string(m_step) + ")");
  }
  m_step = step;
  post_held_sample();  // its verdict was not asked for
  // The clock is read at every step (about 20 ns): step time is what the overhead is a share of,
  // and the budget needs it.
  const int64_t now = monotonic_ns();
  // In a group the steps are the group's (its agreed stride); 0 once the group is off.
  const int64_t group_stride = m_in_group ? m_collector->group_stride() : 0;
  observe_device_time();
  bool due = group_stride > 0 ? m_sampler->due_on_grid(step, now, group_stride)
                              : m_sampler->due(step, now);
  // Outside a group and under a budget, no second sample before the first one's device time is
  // known: until then the budget cannot tell what a sample costs (a group keeps its agreed grid
  // instead; without a budget the cost decides nothing).
  if (due && group_stride == 0 && m_config.budget > 0 && m_device_samples_posted > 0 &&
      m_device_samples_seen == 0)
    due = false;
  m_counters.step_ns.store(m_sampler->step_ns_total(), std::memory_order_relaxed);
  if (due && !m_watch->empty()) {
    take_sample(m_watch, step, stream, m_in_group, true);
    const int64_t done = monotonic_ns();
    m_sampler->sample_taken(step, now, done - now);
    m_counters.overhead_ns += done - now;
  }
  // After the sample is posted: the collector may now tell the group this rank has nothing more
  // up to `step`.
  // A held sample is not posted yet: the step is told once it is.
  if (m_in_group) {
    if (m_holding)
      m_unnoted_step = step;
    else
      m_collector->note_step(step);
  }
  return TTAP_OK;
}

ttap_status session::observe(const char *name, const void *ptr, int32_t dtype_bits, uint64_t numel,
                             int32_t kind_bits, int64_t step, void *stream) {
  TTAP_CHECK(validate_tensor(name, ptr, dtype_bits, numel, kind_bits));
  const auto dtype = ttap_dtype(dtype_bits);
  const auto kind = ttap_kind(kind_bits);
  if (step < -1)
    return fail(TTAP_ERR_INVALID_ARGUMENT, "step " + std::to_string(step) + " is negative");
  if (step == -1) step = m_step < 0 ? 0 : m_step;
  int32_t id;
  auto it = m_by_name.find(std::string_view(name));
  if (it == m_by_name.end()) {
    id = register_tensor(name, dtype, numel, kind, true);
  } else {
    const tensor_entry &e = m_tensors[size_t(it->second)];
    if (!e.observed) {
      return fail(TTAP_ERR_INVALID_ARGUMENT,
                  std::string("name '") + name + "' is a watched tensor");
    }
    if (e.info.type != ttap::dtype(dtype) || e.info.kind != tensor_kind(kind)) {
      return fail(
          TTAP_ERR_INVALID_ARGUMENT,
          std::string("tensor '") + name + "' was observed before with another dtype or kind");
    }
    id = e.info.id;
  }
  const int64_t t0 = monotonic_ns();
  const tensor_entry &e = m_tensors[size_t(id)];
  const watch_entry observed{id,     &e.info.name, e.info.type,          numel,
                             e.role, ptr,          placed_on_device(ptr)};
  if (m_observe_list && m_observe_list.use_count() == 1)
    m_observe_list->refill({&observed, 1}, false);
  else
    m_observe_list = watch_list::build({&observed, 1}, false);
  take_sample(m_observe_list, step, stream, false, false);
  m_counters.overhead_ns += monotonic_ns() - t0;
  return TTAP_OK;
}

ttap_status session::log_scalar(const char *name, double value, int64_t step) {
  if (!name) return fail(TTAP_ERR_INVALID_ARGUMENT, "name is NULL");
  if (!*name) return fail(TTAP_ERR_INVALID_ARGUMENT, "name is empty");
  if (step < -1)
    return fail(TTAP_ERR_INVALID_ARGUMENT, "step " + std::to_string(step) + " is negative");
  scalar_record r;
  r.rank = m_config.rank;
  r.step = step == -1 ? (m_step < 0 ? 0 : m_step) : step;
  r.time = wall_seconds();
  r.name = name;
  r.value = value;
  m_judge->add_scalar(r);
  if (!m_collector->post_scalar(r)) ++m_counters.records_dropped;
  return TTAP_OK;
}

ttap_status session::set_group(const char *kind, void *comm) {
  if (!kind) return fail(TTAP_ERR_INVALID_ARGUMENT, "kind is NULL");
  const std::string k = kind;
  if (k != "mpi" && k != "nccl" && k != "single")
    return fail(TTAP_ERR_INVALID_ARGUMENT,
                "unknown group kind '" + k + "' (expected \"mpi\", \"nccl\" or \"single\")");
  if (m_in_group) return fail(TTAP_ERR_INVALID_ARGUMENT, "the session is already in a group");
  if (m_counters.samples_taken.load() + m_counters.samples_skipped.load() > 0) {
    return fail(TTAP_ERR_INVALID_ARGUMENT,
                "samples were already taken: call ttap_set_group before the first ttap_step or "
                "ttap_observe");
  }
  if (k != "single" && !comm) {
    return fail(TTAP_ERR_INVALID_ARGUMENT, k == "mpi"
                                               ? "comm is NULL (pass a pointer to the MPI_Comm)"
                                               : "comm is NULL (pass the ncclComm_t)");
  }
  ttap_status st = TTAP_OK;
  std::string error;
  std::unique_ptr<group_comm> c;
  if (k == "single") {
    c = make_single_comm();
  } else if (k == "mpi") {
    c = make_mpi_comm(comm, &st, &error);
  } else {
    if (!m_device)
      return fail(TTAP_ERR_UNSUPPORTED,
                  "an nccl group needs a session with a GPU (backend=cuda, or auto with one)");
    c = make_nccl_comm(comm, *m_device, &st, &error);
  }
  if (!c) return fail(st, error);
  group_info info;
  info.kind = k;
  info.size = c->size();
  info.rank = c->rank();
  // Ranks are named by their RANK when the launcher set one, else by their place in the group.
  const int32_t label = m_config.world > 1 ? m_config.rank : c->rank();
  auto reducer = std::make_unique<group_reducer>(std::move(c), label, m_config.every);
  if (!reducer->agree_on_every(&error))
    return fail(TTAP_ERR_INVALID_ARGUMENT, k + " group: " + error);
  // The verdicts' all-reduce runs on the training thread: a communicator of its own, so it never
  // interleaves with the collector thread's collectives on the other.
  if (info.size > 1) {
    std::unique_ptr<group_comm> votes;
    if (k == "mpi")
      votes = make_mpi_comm(comm, &st, &error);
    else if (k == "nccl")
      votes = make_nccl_comm(comm, *m_device, &st, &error);
    if (!votes) return fail(st, k + " group: the verdicts' communicator: " + error);
    m_verdict_comm = std::move(votes);
  }
  m_in_group = true;
  m_collector->start_group(std::move(reducer), info);
  m_announced_layout_hash = 0;
  rebuild_watch_list();  // fingerprints for the replicated tensors, and the first layout
  return TTAP_OK;
}

ttap_status session::verdict(int64_t step, ttap_verdict_t *out) {
  if (!out) return fail(TTAP_ERR_INVALID_ARGUMENT, "out is NULL");
  if (step < -1)
    return fail(TTAP_ERR_INVALID_ARGUMENT, "step " + std::to_string(step) + " is negative");
  if (step == -1) step = m_step;
  if (step > m_step || step < 0)
    return fail(TTAP_ERR_INVALID_ARGUMENT, "step " + std::to_string(step) +
                                               " has not been marked by ttap_step yet (last step " +
                                               std::to_string(m_step) + ")");
  // Asked again: the same answer, without a second all-reduce (the other ranks ask once).
  if (step == m_verdict_step) {
    *out = m_verdict;
    return TTAP_OK;
  }
  if (!m_hold_device_samples) {
    m_hold_device_samples = true;  // from the next sample on, device parts wait for their verdict
    if (!m_watch->device_ids().empty())
      warn_once("verdict-device",
                "ttap_verdict: this step's device tensors were not held for it (no skip or dump "
                "policy); from the next step on they are");
  }
  if (m_holding && m_held.step == step) complete_held_sample();

  const step_findings &f = m_judge->findings();
  const verdict_votes mine = m_judge->votes(step);
  verdict_votes all = mine;
  if (m_verdict_comm) {
    std::string error;
    if (!sum_votes(*m_verdict_comm, &all, &error)) {
      warn_once("verdict-group",
                "ttap_verdict: the group's vote failed (%s); each rank decides alone from here",
                error.c_str());
      m_verdict_comm.reset();
      all = mine;
    }
  }
  ttap_verdict_t v{};
  v.action = all.abort > 0 ? TTAP_ACTION_ABORT : all.skip > 0 ? TTAP_ACTION_SKIP : TTAP_ACTION_NONE;
  v.sampled = f.step == step ? 1 : 0;
  v.nonfinite_tensors = int32_t(all.nonfinite_tensors);
  v.first_tensor = f.step != step         ? -1
                   : !f.nonfinite.empty() ? f.nonfinite.front()
                   : !f.spiking.empty()   ? f.spiking.front()
                                          : -1;
  v.spike = all.spike > 0 ? 1 : 0;
  respond(step, v, mine);
  m_verdict_step = step;
  m_verdict = v;
  *out = v;
  return TTAP_OK;
}

namespace {

// "a.grad, b.grad and 3 more": the tensors an action is about, on one line.
std::string name_list(const std::vector<std::string> &names) {
  constexpr size_t kShown = 4;
  std::string s;
  for (size_t i = 0; i < names.size() && i < kShown; ++i) s += (i ? ", " : "") + names[i];
  if (names.size() > kShown) s += " and " + std::to_string(names.size() - kShown) + " more";
  return s;
}

}  // namespace

void session::respond(int64_t step, const ttap_verdict_t &v, const verdict_votes &mine) {
  const step_findings &f = m_judge->findings();
  const bool here = f.step == step;
  const bool nonfinite_here = here && !f.nonfinite.empty();
  const bool spike_here = here && !f.spiking.empty();
  auto names = [&](const std::vector<int32_t> &ids) {
    std::vector<std::string> out;
    for (int32_t id : ids) out.push_back(m_tensors[size_t(id)].info.name);
    return out;
  };
  if (v.action == TTAP_ACTION_SKIP) {
    action_record a;
    a.rank = m_config.rank;
    a.step = step;
    a.time = wall_seconds();
    // The reason this rank skips: its own findings, else the group's vote.
    const bool for_nonfinite = mine.skip > 0
                                   ? nonfinite_here && m_config.on_nonfinite.skip
                                   : v.nonfinite_tensors > 0 && m_config.on_nonfinite.skip;
    a.reason = for_nonfinite ? "nonfinite" : "spike";
    a.detail = mine.skip > 0 ? name_list(names(for_nonfinite ? f.nonfinite : f.spiking))
                             : "voted by another rank of the group";
    m_collector->post_action(a);
  }
  const bool dump_nonfinite = nonfinite_here && m_config.on_nonfinite.dump;
  const bool dump_spike = spike_here && m_config.on_spike.dump;
  if ((dump_nonfinite || dump_spike) && m_dumps < m_config.dump_max) {
    ++m_dumps;
    // The copies are made here, before the caller's optimizer can change the tensors; the files
    // are written on the collector thread (the response sink), which records the dump's action.
    m_collector->post_dump(gather_dump(step, dump_nonfinite ? "nonfinite" : "spike",
                                       dump_nonfinite ? f.nonfinite : f.spiking));
  }
}

dump_contents session::gather_dump(int64_t step, const std::string &reason,
                                   const std::vector<int32_t> &ids) {
  dump_contents d;
  d.step = step;
  d.rank = m_config.rank;
  d.reason = reason;
  const uint64_t budget = uint64_t(m_config.dump_max_mb * 1024 * 1024);
  uint64_t used = 0;
  auto take = [&](const tensor_entry &e, const std::string &why) {
    const uint64_t bytes = e.info.numel * uint64_t(dtype_size(e.info.type));
    if (!e.watched || (!e.ptr && bytes > 0)) {
      d.left_out.push_back({e.info.name, "not watched any more"});
      return;
    }
    if (used + bytes > budget) {
      d.left_out.push_back({e.info.name, std::to_string(bytes) + " bytes: over dump_max_mb (" +
                                             std::to_string(budget - used) + " bytes left)"});
      return;
    }
    dump_tensor t;
    t.name = e.info.name;
    t.why = why;
    t.type = e.info.type;
    t.shape = e.shape.empty() ? std::vector<uint64_t>{e.info.numel} : e.shape;
    t.bytes.resize(bytes);
    if (e.on_device) {
      // Copied on the caller's stream, after the kernels that produced it and before the
      // optimizer can change it: the verdict has waited for this step's sample anyway.
      if (m_device->copy_to_host(t.bytes.data(), e.ptr, bytes, m_held_stream) !=
              device_status::ok ||
          m_device->synchronize(m_held_stream) != device_status::ok) {
        d.left_out.push_back({e.info.name, "the device copy failed: " + m_device->last_error()});
        return;
      }
    } else if (bytes > 0) {
      std::memcpy(t.bytes.data(), e.ptr, bytes);
    }
    used += bytes;
    d.tensors.push_back(std::move(t));
  };
  for (int32_t id : ids) {
    const tensor_entry &e = m_tensors[size_t(id)];
    take(e, reason);
    // A gradient "<param>.grad" comes with its parameter, when that is watched too.
    const std::string &name = e.info.name;
    constexpr std::string_view kGrad = ".grad";
    if (e.info.kind == tensor_kind::grad && name.size() > kGrad.size() &&
        name.compare(name.size() - kGrad.size(), kGrad.size(), kGrad) == 0) {
      const std::string param = name.substr(0, name.size() - kGrad.size());
      auto it = m_by_name.find(param);
      if (it != m_by_name.end() && m_tensors[size_t(it->second)].watched)
        take(m_tensors[size_t(it->second)], "parameter of " + name);
      else
        d.left_out.push_back({param, "the parameter of " + name + " is not watched"});
    }
  }
  for (int32_t id : m_watch->ids()) {
    const auto *h = m_judge->history().of(id);
    d.history.push_back(
        {m_tensors[size_t(id)].info.name,
         h ? std::vector<summary_digest>(h->begin(), h->end()) : std::vector<summary_digest>{}});
  }
  d.scalars.assign(m_judge->recent_scalars().begin(), m_judge->recent_scalars().end());
  return d;
}

ttap_status session::next_alert(ttap_alert_t *out, int32_t *has_alert) {
  if (!out) return fail(TTAP_ERR_INVALID_ARGUMENT, "out is NULL");
  if (!has_alert) return fail(TTAP_ERR_INVALID_ARGUMENT, "has_alert is NULL");
  alert a;
  *has_alert = m_inbox->take(&a) ? 1 : 0;
  if (!*has_alert) return TTAP_OK;
  auto copy = [](char *to, size_t size, const std::string &from) {
    const size_t n = std::min(size - 1, from.size());
    std::memcpy(to, from.data(), n);
    to[n] = '\0';
  };
  out->step = a.step;
  out->rank = a.rank;
  copy(out->type, sizeof out->type, alert_type_name(a.type));
  copy(out->tensor, sizeof out->tensor, a.tensor);
  copy(out->message, sizeof out->message, a.message);
  return TTAP_OK;
}

ttap_status session::flush() {
  post_held_sample();
  std::string error;
  if (!m_collector->flush(&error)) return fail(TTAP_ERR_IO, "the store failed: " + error);
  return TTAP_OK;
}

ttap_status session::close() {
  if (m_closed) return TTAP_OK;
  m_closed = true;
  post_held_sample();
  std::string error;
  bool ok = !m_collector || m_collector->close(&error);  // null when open() failed half way
  m_collector.reset();
  m_ring.reset();  // waits for the device to finish with its slots
  // The verdicts' NCCL communicator keeps its stream and buffers on m_device: it goes first.
  m_verdict_comm.reset();
  m_device.reset();
  if (!ok) return fail(TTAP_ERR_IO, "the store failed: " + error);
  return TTAP_OK;
}

}  // namespace ttap
