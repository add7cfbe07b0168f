// A tensortap session: the tensor registry, the sampler, the executors (cpu for host tensors, the
// fused kernel on a device for device tensors) and the collector with its store. The C API in
// api.cc validates handles and serializes calls; everything here runs under that serialization.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "kernels/cpu/cpu_executor.h"
#include "runtime/collector.h"
#include "runtime/config.h"
#include "runtime/group/group_comm.h"
#include "runtime/response/step_judge.h"
#include "runtime/sample_ring.h"
#include "runtime/sampler.h"
#include "runtime/watch_list.h"
#include "ttap/ttap.h"

namespace ttap {

class session {
 public:
  // Creates the run directory and the store, starts the collector. On failure returns the status
  // with the message recorded (see errors.h) and leaves *out null.
  static ttap_status open(const char *run_dir, const char *options, std::unique_ptr<session> *out);
  ~session();

  // dtype and kind are the integers the caller passed (checked here against ttap_dtype and
  // ttap_kind before they become enum values).
  // shape: null (a flat tensor), else ndim dimensions whose product is numel.
  ttap_status watch(const char *name, const void *ptr, int32_t dtype, uint64_t numel, int32_t kind,
                    int32_t *handle, const uint64_t *shape = nullptr, int32_t ndim = 0);
  ttap_status rebind(int32_t handle, const void *ptr);
  ttap_status unwatch(int32_t handle);
  // role: the integer the caller passed (checked against ttap_role here).
  ttap_status set_role(int32_t handle, int32_t role);
  ttap_status step(int64_t step, void *stream);
  ttap_status observe(const char *name, const void *ptr, int32_t dtype, uint64_t numel,
                      int32_t kind, int64_t step, void *stream);
  ttap_status log_scalar(const char *name, double value, int64_t step);
  ttap_status set_group(const char *kind, void *comm);
  ttap_status verdict(int64_t step, ttap_verdict_t *out);
  ttap_status next_alert(ttap_alert_t *out, int32_t *has_alert);
  ttap_status flush();
  ttap_status close();

  const session_config &config() const { return m_config; }
  // The run directory the session writes, absolute (as given, or the one open() chose).
  const std::string &run_dir() const { return m_run_dir; }
  // The sampler's state (its stride and what the budget counted), for tests and diagnostics; read
  // it on the thread that calls step().
  const sampler &sampling() const { return *m_sampler; }

 private:
  struct tensor_entry {
    tensor_info info;
    const void *ptr = nullptr;
    bool watched = false;                          // in the watch list now
    bool observed = false;                         // registered by ttap_observe
    bool on_device = false;                        // summarized by the device backend
    tensor_role role = tensor_role::contribution;  // what it is to a group (see record.h)
    std::vector<uint64_t> shape;                   // ttap_watch_shaped's, else empty (flat)
  };

  session() = default;
  ttap_status validate_tensor(const char *name, const void *ptr, int32_t dtype, uint64_t numel,
                              int32_t kind) const;
  bool placed_on_device(const void *ptr) const;
  int32_t register_tensor(const std::string &name, ttap_dtype dtype, uint64_t numel, ttap_kind kind,
                          bool observed);
  void rebuild_watch_list();
  // One sample of the tensors of `list` at `step`. Never waits.
  // judged: a watch-list sample (ttap_step), whose findings a verdict reads.
  void take_sample(const std::shared_ptr<const watch_list> &list, int64_t step, void *stream,
                   bool group, bool judged);
  // Verdicts (runtime/response/): the sample held for its verdict is posted as it is (its device
  // part still in flight), or completed first (waiting for the device) and judged.
  void post_held_sample();
  void complete_held_sample();
  void note_unnoted_step();  // tells a group the step of the sample just posted
  void judge(std::vector<sample_record> &records, int64_t step);
  void respond(int64_t step, const ttap_verdict_t &v, const verdict_votes &mine);
  // A forensic dump of `ids` at `step`: the tensors copied to host memory (device ones on the
  // held sample's stream), their recent summaries and the recent scalars, within dump_max_mb.
  dump_contents gather_dump(int64_t step, const std::string &reason,
                            const std::vector<int32_t> &ids);
  // Hands the sampler the device time of the samples completed since the last call (training
  // thread; the collector counts them as their slots complete).
  void observe_device_time();

  session_config m_config;
  std::string m_run_dir;
  std::unique_ptr<sampler> m_sampler;
  std::unique_ptr<cpu_executor> m_cpu;
  std::unique_ptr<device> m_device;  // null unless a device backend is in use
  std::unique_ptr<sample_ring> m_ring;
  pipeline_counters m_counters;
  std::unique_ptr<collector> m_collector;

  std::vector<tensor_entry> m_tensors;  // by tensor id (= watch handle)
  // Looked up by string_view: ttap_observe's name, once known, costs no std::string (a heap
  // allocation per call for names over 15 characters).
  struct name_hash {
    using is_transparent = void;
    size_t operator()(std::string_view name) const { return std::hash<std::string_view>{}(name); }
  };
  std::unordered_map<std::string, int32_t, name_hash, std::equal_to<>> m_by_name;

  // The watch list, rebuilt when it changes so a step does no bookkeeping (see watch_list.h);
  // never null.
  std::shared_ptr<watch_list> m_watch = watch_list::build({}, false);
  // ttap_observe's one-tensor list, refilled in place while no posted sample shares it (a host
  // sample never does), so an observe allocates nothing in steady state either.
  std::shared_ptr<watch_list> m_observe_list;

  int64_t m_step = -1;  // the last step seen

  // Verdicts: the findings of each watch-list sample, and in a group the verdicts' own
  // communicator (the collector thread uses the other one).
  std::unique_ptr<step_judge> m_judge;
  std::unique_ptr<group_comm> m_verdict_comm;
  std::shared_ptr<alert_inbox> m_inbox;  // alerts for ttap_next_alert, filled by the response sink
  bool m_hold_device_samples = false;  // a policy acts at the verdict, or ttap_verdict was called
  bool m_holding = false;
  posted_sample m_held;  // a sample whose device part the verdict of its step will wait for
  void *m_held_stream = nullptr;
  int64_t m_unnoted_step = -1;  // in a group: the step whose sample is held, not yet told
  int64_t m_verdict_step = -1;  // the last step judged, and its verdict (asked again: the same)
  ttap_verdict_t m_verdict{};
  int64_t m_dumps = 0;  // written or tried (dump_max bounds both)
  // Device time and samples already handed to the sampler (observe_device_time).
  int64_t m_device_ns_seen = 0;
  uint64_t m_device_samples_seen = 0;
  uint64_t m_device_samples_posted = 0;  // device samples submitted (training thread only)
  bool m_closed = false;

  // In a group (ttap_set_group): replicated tensors are fingerprinted, watch-list samples carry
  // the list's hash (the ranks compare it) and are taken on the group's grid of steps.
  bool m_in_group = false;
  uint64_t m_announced_layout_hash = 0;  // of the last layout posted to the group
};

}  // namespace ttap
