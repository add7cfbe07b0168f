// The Prometheus endpoint: one registry of gauges and counters; per-tensor series are added and
// removed as the set of interesting tensors changes, so scrapes never see unbounded cardinality.
// Served by a small pool of civetweb threads with short timeouts, so idle clients cannot stall it.
#include "tools/run/metrics_exporter.h"

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <exception>
#include <set>

#include "runtime/text/printable.h"

namespace ttap {

struct metrics_exporter::state {
  std::unique_ptr<prometheus::Exposer> exposer;
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  prometheus::Gauge *step = nullptr, *grad_norm = nullptr, *tensors = nullptr, *max_l2 = nullptr,
                    *nonfinite_tensors = nullptr, *overhead = nullptr;
  prometheus::Family<prometheus::Gauge> *tensor_l2 = nullptr, *tensor_abs_max = nullptr,
                                        *tensor_nonfinite = nullptr;
  prometheus::Family<prometheus::Counter> *alerts = nullptr;
  prometheus::Counter *taken = nullptr, *skipped = nullptr, *dropped = nullptr;
  std::map<std::string, prometheus::Counter *> alerts_by_type;
  // The per-tensor series now published, by their (escaped) tensor label.
  struct series {
    prometheus::Gauge *l2, *abs_max, *nonfinite;
  };
  std::map<std::string, series> published;
};

namespace {

// Sets a monotonic counter to `total` by incrementing it by what is new.
void advance(prometheus::Counter *c, double total) {
  double now = c->Value();
  if (total > now) c->Increment(total - now);
}

}  // namespace

metrics_exporter::~metrics_exporter() = default;

std::unique_ptr<metrics_exporter> metrics_exporter::start(const std::string &address,
                                                          std::string *error) {
  std::string bind = address;
  if (bind.find(':') == std::string::npos) bind = "127.0.0.1:" + bind;
  if (bind.front() == ':') bind = "127.0.0.1" + bind;
  std::string port = bind.substr(bind.rfind(':') + 1);
  if (port.empty() || port.find_first_not_of("0123456789") != std::string::npos) {
    *error = "--prometheus '" + address + "': expected HOST:PORT, :PORT or PORT";
    return nullptr;
  }
  std::unique_ptr<metrics_exporter> m(new metrics_exporter());
  m->m_state = std::make_unique<state>();
  m->m_address = bind;
  try {
    // civetweb gives each connection a thread until its request is read, so one silent client
    // would hold a single-thread server for its default 30 s request timeout: a few threads, and
    // a client gets kRequestTimeoutMs to send its request and between keep-alive requests.
    m->m_state->exposer = std::make_unique<prometheus::Exposer>(std::vector<std::string>{
        "listening_ports", bind, "num_threads", std::to_string(kServerThreads),
        "request_timeout_ms", std::to_string(kRequestTimeoutMs), "keep_alive_timeout_ms",
        std::to_string(kRequestTimeoutMs), "enable_keep_alive", "yes"});
  } catch (const std::exception &e) {
    *error = "--prometheus " + bind + ": cannot listen (" + e.what() + ")";
    return nullptr;
  }
  state &st = *m->m_state;
  auto &reg = *st.registry;
  using prometheus::BuildCounter;
  using prometheus::BuildGauge;
  st.step =
      &BuildGauge().Name("ttap_step").Help("Latest training step sampled").Register(reg).Add({});
  st.grad_norm = &BuildGauge()
                      .Name("ttap_global_grad_norm")
                      .Help("Global L2 norm of the gradients at the latest sampled step")
                      .Register(reg)
                      .Add({});
  st.tensors = &BuildGauge().Name("ttap_tensors").Help("Tensors registered").Register(reg).Add({});
  st.max_l2 = &BuildGauge()
                   .Name("ttap_tensor_l2_max")
                   .Help("Largest latest L2 norm over all tensors")
                   .Register(reg)
                   .Add({});
  st.nonfinite_tensors = &BuildGauge()
                              .Name("ttap_tensors_nonfinite")
                              .Help("Tensors whose latest sample holds NaN or Inf")
                              .Register(reg)
                              .Add({});
  st.overhead = &BuildGauge()
                     .Name("ttap_overhead_fraction")
                     .Help("tensortap's time on the training thread as a fraction of step time")
                     .Register(reg)
                     .Add({});
  st.tensor_l2 =
      &BuildGauge()
           .Name("ttap_tensor_l2")
           .Help("Latest L2 norm, for the largest-norm and non-finite tensors (bounded set)")
           .Register(reg);
  st.tensor_abs_max = &BuildGauge()
                           .Name("ttap_tensor_abs_max")
                           .Help("Latest largest finite magnitude (bounded set)")
                           .Register(reg);
  st.tensor_nonfinite = &BuildGauge()
                             .Name("ttap_tensor_nonfinite")
                             .Help("NaN and Inf values in the latest sample (bounded set)")
                             .Register(reg);
  st.alerts =
      &BuildCounter().Name("ttap_alerts_total").Help("Alerts raised, by type").Register(reg);
  auto &samples =
      BuildCounter().Name("ttap_samples_total").Help("Samples by outcome").Register(reg);
  st.taken = &samples.Add({{"outcome", "taken"}});
  st.skipped = &samples.Add({{"outcome", "skipped"}});
  st.dropped = &BuildCounter()
                    .Name("ttap_records_dropped_total")
                    .Help("Records dropped because a bounded queue was full")
                    .Register(reg)
                    .Add({});
  st.exposer->RegisterCollectable(st.registry);
  return m;
}

void metrics_exporter::update(const run_snapshot &s) {
  state &st = *m_state;
  st.step->Set(double(s.latest_step));
  st.grad_norm->Set(s.global_grad_norm);
  st.tensors->Set(double(s.tensors.size()));
  st.overhead->Set(s.step_seconds > 0 ? s.overhead_seconds / s.step_seconds : 0.0);
  advance(st.taken, double(s.samples_taken));
  advance(st.skipped, double(s.samples_skipped));
  advance(st.dropped, double(s.records_dropped));
  for (const auto &[type, count] : s.alerts_by_type) {
    const std::string label = text::printable(type);
    auto it = st.alerts_by_type.find(label);
    if (it == st.alerts_by_type.end())
      it = st.alerts_by_type.emplace(label, &st.alerts->Add({{"type", label}})).first;
    advance(it->second, double(count));
  }

  // The bounded set: non-finite tensors first, then the largest norms.
  std::vector<const monitored_tensor *> order;
  double max_l2 = 0;
  uint64_t nonfinite = 0;
  for (const auto &t : s.tensors) {
    if (t.samples == 0) continue;
    order.push_back(&t);
    max_l2 = std::max(max_l2, t.last_l2);
    nonfinite += t.last_nonfinite > 0;
  }
  st.max_l2->Set(max_l2);
  st.nonfinite_tensors->Set(double(nonfinite));
  std::sort(order.begin(), order.end(), [](const monitored_tensor *a, const monitored_tensor *b) {
    if ((a->last_nonfinite > 0) != (b->last_nonfinite > 0)) return a->last_nonfinite > 0;
    return a->last_l2 > b->last_l2;
  });
  if (order.size() > kMaxTensorSeries) order.resize(kMaxTensorSeries);
  // Series are keyed by their label: the text format allows only UTF-8 label values, so names
  // are escaped (which also keeps them on one line), and two names may escape alike.
  std::set<std::string> wanted;
  for (const monitored_tensor *t : order) {
    const std::string label = text::printable(t->name);
    wanted.insert(label);
    auto it = st.published.find(label);
    if (it == st.published.end()) {
      prometheus::Labels labels{{"tensor", label}};
      it = st.published
               .emplace(label,
                        state::series{&st.tensor_l2->Add(labels), &st.tensor_abs_max->Add(labels),
                                      &st.tensor_nonfinite->Add(labels)})
               .first;
    }
    it->second.l2->Set(t->last_l2);
    it->second.abs_max->Set(t->last_abs_max);
    it->second.nonfinite->Set(double(t->last_nonfinite));
  }
  for (auto it = st.published.begin(); it != st.published.end();) {
    if (wanted.count(it->first)) {
      ++it;
      continue;
    }
    st.tensor_l2->Remove(it->second.l2);
    st.tensor_abs_max->Remove(it->second.abs_max);
    st.tensor_nonfinite->Remove(it->second.nonfinite);
    it = st.published.erase(it);
  }
}

}  // namespace ttap
