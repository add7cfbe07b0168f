// The Prometheus endpoint: one registry of gauges and counters, every series labelled run, rank,
// host; per-tensor series are added and removed as the set of interesting tensors changes, so
// scrapes never see unbounded cardinality. Served by a small pool of civetweb threads with short
// timeouts, so idle clients cannot stall it. Also the file_sd target files of `ttap run`.
#include "tools/run/metrics_exporter.h"

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <unistd.h>

#include <algorithm>
#include <exception>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "runtime/record.h"
#include "runtime/text/printable.h"

namespace ttap {

struct metrics_exporter::state {
  std::unique_ptr<prometheus::Exposer> exposer;
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::string run;
  prometheus::Family<prometheus::Gauge> *step = nullptr, *sample_time = nullptr,
                                        *grad_norm = nullptr, *loss = nullptr, *tensors = nullptr,
                                        *max_l2 = nullptr, *nonfinite_tensors = nullptr,
                                        *overhead = nullptr, *budget = nullptr;
  prometheus::Family<prometheus::Gauge> *tensor_l2 = nullptr, *tensor_abs_max = nullptr,
                                        *tensor_nonfinite = nullptr;
  prometheus::Family<prometheus::Counter> *alerts = nullptr, *samples = nullptr, *dropped = nullptr;
  // The per-tensor series now published, by rank and (escaped) tensor label.
  struct series {
    prometheus::Gauge *l2, *abs_max, *nonfinite;
  };
  std::map<std::pair<int32_t, std::string>, series> published;
};

namespace {

// Sets a monotonic counter to `total` by incrementing it by what is new.
void advance(prometheus::Counter &c, double total) {
  double now = c.Value();
  if (total > now) c.Increment(total - now);
}

// The text format allows only UTF-8 label values: names from the run are escaped (which also
// keeps them on one line).
prometheus::Labels rank_labels(const std::string &run, int32_t rank, const rank_snapshot &r) {
  return {{"run", run},
          {"rank", std::to_string(rank)},
          {"host", r.host.empty() ? "?" : text::printable(r.host)}};
}

std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || !name[0]) return "localhost";
  return name;
}

}  // namespace

metrics_exporter::~metrics_exporter() = default;

std::string metrics_exporter::target() const {
  const size_t colon = m_address.rfind(':');
  const std::string host = m_address.substr(0, colon);
  if (host == "0.0.0.0" || host == "[::]" || host.empty())
    return host_name() + m_address.substr(colon);
  return m_address;
}

std::unique_ptr<metrics_exporter> metrics_exporter::start(const std::string &address,
                                                          const std::string &run,
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
  m->m_state->run = text::printable(run);
  m->m_address = bind;
  try {
    // civetweb gives each connection a thread until its request is read, so one silent client
    // would hold a single-thread server for its default 30 s request timeout: a few threads, and
    // a client gets kRequestTimeoutMs to send its request and between keep-alive requests.
    m->m_state->exposer = std::make_unique<prometheus::Exposer>(std::vector<std::string>{
        "listening_ports", bind, "num_threads", std::to_string(kServerThreads),
        "request_timeout_ms", std::to_string(kRequestTimeoutMs), "keep_alive_timeout_ms",
        std::to_string(kRequestTimeoutMs), "enable_keep_alive", "yes"});
    // Port 0: name the port the system chose.
    const std::vector<int> ports = m->m_state->exposer->GetListeningPorts();
    if (!ports.empty())
      m->m_address = bind.substr(0, bind.rfind(':') + 1) + std::to_string(ports.front());
  } catch (const std::exception &e) {
    *error = "--prometheus " + bind + ": cannot listen (" + e.what() + ")";
    return nullptr;
  }
  state &st = *m->m_state;
  auto &reg = *st.registry;
  using prometheus::BuildCounter;
  using prometheus::BuildGauge;
  auto gauge = [&](const char *name, const char *help) {
    return &BuildGauge().Name(name).Help(help).Register(reg);
  };
  st.step = gauge("ttap_step", "Latest training step sampled");
  st.sample_time = gauge("ttap_last_sample_timestamp_seconds",
                         "Wall clock of the latest sample, seconds since the Unix epoch");
  st.grad_norm =
      gauge("ttap_global_grad_norm", "Global L2 norm of the gradients at the latest sampled step");
  st.loss = gauge("ttap_loss", "Latest value of the scalar named loss (ttap_log_scalar)");
  st.tensors = gauge("ttap_tensors", "Tensors registered");
  st.max_l2 = gauge("ttap_tensor_l2_max", "Largest latest L2 norm over all tensors");
  st.nonfinite_tensors =
      gauge("ttap_tensors_nonfinite", "Tensors whose latest sample holds NaN or Inf");
  st.overhead = gauge("ttap_overhead_fraction",
                      "tensortap's time (training thread plus device) as a fraction of step time");
  st.budget = gauge("ttap_overhead_budget_fraction",
                    "The overhead budget the run was started with (0: off)");
  st.tensor_l2 = gauge("ttap_tensor_l2",
                       "Latest L2 norm, for the largest-norm and non-finite tensors (bounded set)");
  st.tensor_abs_max = gauge("ttap_tensor_abs_max", "Latest largest finite magnitude (bounded set)");
  st.tensor_nonfinite =
      gauge("ttap_tensor_nonfinite", "NaN and Inf values in the latest sample (bounded set)");
  st.alerts =
      &BuildCounter().Name("ttap_alerts_total").Help("Alerts raised, by type").Register(reg);
  st.samples = &BuildCounter().Name("ttap_samples_total").Help("Samples by outcome").Register(reg);
  st.dropped = &BuildCounter()
                    .Name("ttap_records_dropped_total")
                    .Help("Records dropped because a bounded queue was full")
                    .Register(reg);
  st.exposer->RegisterCollectable(st.registry);
  return m;
}

void metrics_exporter::update(const run_snapshot &s) {
  state &st = *m_state;
  std::map<int32_t, size_t> tensors_of_rank;
  std::map<int32_t, double> max_l2_of_rank;
  std::map<int32_t, uint64_t> nonfinite_of_rank;
  std::vector<const monitored_tensor *> order;
  for (const auto &t : s.tensors) {
    ++tensors_of_rank[t.rank];
    if (t.samples == 0) continue;
    order.push_back(&t);
    max_l2_of_rank[t.rank] = std::max(max_l2_of_rank[t.rank], t.last_l2);
    nonfinite_of_rank[t.rank] += t.last_nonfinite > 0;
  }

  for (const auto &[rank, r] : s.ranks) {
    const prometheus::Labels labels = rank_labels(st.run, rank, r);
    st.step->Add(labels).Set(double(r.latest_step));
    if (r.latest_time > 0) st.sample_time->Add(labels).Set(r.latest_time);
    st.grad_norm->Add(labels).Set(r.global_grad_norm);
    if (r.has_loss) st.loss->Add(labels).Set(r.loss);
    st.tensors->Add(labels).Set(double(tensors_of_rank[rank]));
    st.max_l2->Add(labels).Set(max_l2_of_rank[rank]);
    st.nonfinite_tensors->Add(labels).Set(double(nonfinite_of_rank[rank]));
    st.overhead->Add(labels).Set(
        r.step_seconds > 0 ? (r.overhead_seconds + r.device_seconds) / r.step_seconds : 0.0);
    if (r.budget >= 0) st.budget->Add(labels).Set(r.budget);
    prometheus::Labels with = labels;
    with["outcome"] = "taken";
    advance(st.samples->Add(with), double(r.samples_taken));
    with["outcome"] = "skipped";
    advance(st.samples->Add(with), double(r.samples_skipped));
    advance(st.dropped->Add(labels), double(r.records_dropped));
    // Every type from the start at 0, so rate() and increase() see the first alert of a type.
    for (int t = 0; t <= int(kLastAlertType); ++t) {
      const char *type = alert_type_name(alert_type(t));
      prometheus::Labels typed = labels;
      typed["type"] = type;
      auto it = r.alerts_by_type.find(type);
      advance(st.alerts->Add(typed), it == r.alerts_by_type.end() ? 0.0 : double(it->second));
    }
  }

  // Alert types in the store that this build does not know (a newer writer): exported as well.
  for (const auto &[rank, r] : s.ranks) {
    for (const auto &[type, count] : r.alerts_by_type) {
      bool known = false;
      for (int t = 0; t <= int(kLastAlertType) && !known; ++t)
        known = type == alert_type_name(alert_type(t));
      if (known) continue;
      prometheus::Labels typed = rank_labels(st.run, rank, r);
      typed["type"] = text::printable(type);
      advance(st.alerts->Add(typed), double(count));
    }
  }

  // The bounded set: non-finite tensors first, then the largest norms, over every rank.
  std::sort(order.begin(), order.end(), [](const monitored_tensor *a, const monitored_tensor *b) {
    if ((a->last_nonfinite > 0) != (b->last_nonfinite > 0)) return a->last_nonfinite > 0;
    return a->last_l2 > b->last_l2;
  });
  if (order.size() > kMaxTensorSeries) order.resize(kMaxTensorSeries);
  std::set<std::pair<int32_t, std::string>> wanted;
  static const rank_snapshot kUnknownRank;
  for (const monitored_tensor *t : order) {
    // Two names may escape alike: keyed by the label, so they share one series.
    const auto key = std::make_pair(t->rank, text::printable(t->name));
    wanted.insert(key);
    auto it = st.published.find(key);
    if (it == st.published.end()) {
      auto r = s.ranks.find(t->rank);
      prometheus::Labels labels =
          rank_labels(st.run, t->rank, r == s.ranks.end() ? kUnknownRank : r->second);
      labels["tensor"] = key.second;
      it = st.published
               .emplace(key,
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

bool write_prometheus_targets(const std::string &file, const std::string &run_dir,
                              const std::string &target, std::string *error) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path dir = fs::absolute(run_dir, ec).lexically_normal();
  nlohmann::json groups = nlohmann::json::array();
  if (!target.empty())
    groups.push_back({{"targets", {target}}, {"labels", {{"ttap_run_dir", dir.string()}}}});
  const fs::path path = file;
  fs::path tmp = path;
  tmp.replace_filename("." + path.filename().string() + ".tmp");
  {
    std::ofstream out(tmp);
    out << groups.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    if (!out.flush()) {
      *error = "cannot write " + tmp.string();
      return false;
    }
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    *error = "cannot write " + path.string() + ": " + ec.message();
    return false;
  }
  return true;
}

}  // namespace ttap
