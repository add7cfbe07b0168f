// ttap bench --webhook: each run opens a session on the cpu backend, steps a watch list, then on
// the training thread observes `alerts` tiny tensors holding a NaN (one nonfinite alert each, all
// offered to the sink within about a second), and steps on for `measure_s` while the sink's thread
// delivers. Only ttap_step calls after the burst are timed. The session's stderr (alert lines and
// the sink's summary) goes to a temporary file so the summary can be quoted.
#include "benchmarks/webhook_bench.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "benchmarks/bench_clock.h"
#include "benchmarks/http_receiver.h"
#include "ttap/ttap.h"

namespace ttap::bench {
namespace {

using clock_type = std::chrono::steady_clock;

double rss_mib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtod(line.c_str() + 6, nullptr) / 1024.0;
  }
  return 0;
}

// Sends this process's stderr to a file while alive; text() reads what was written.
class stderr_capture {
 public:
  explicit stderr_capture(const std::string &path) : m_path(path) {
    std::fflush(stderr);
    m_saved = ::dup(2);
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0) {
      ::dup2(fd, 2);
      ::close(fd);
    }
  }
  ~stderr_capture() { restore(); }
  void restore() {
    if (m_saved < 0) return;
    std::fflush(stderr);
    ::dup2(m_saved, 2);
    ::close(m_saved);
    m_saved = -1;
  }
  std::string line_with(const std::string &needle) const {
    std::ifstream in(m_path);
    std::string line, found;
    while (std::getline(in, line))
      if (line.find(needle) != std::string::npos) found = line;
    return found;
  }

 private:
  std::string m_path;
  int m_saved = -1;
};

struct run_result {
  double step_ns = 0;
  double rss_growth_mib = 0;
  double close_s = 0;
  std::string summary;
  bool ok = false;
};

run_result one_run(const webhook_bench_options &o, const std::string &dir, const std::string &url,
                   const std::string &extra_options) {
  run_result r;
  std::string options = "backend=cpu,every=1,budget=0";
  if (!url.empty()) options += ",alert_webhook=" + url;
  options += extra_options;
  std::filesystem::create_directories(dir);
  stderr_capture capture(dir + "/stderr.txt");
  ttap_session *s = nullptr;
  if (ttap_open(dir.c_str(), options.c_str(), &s) != TTAP_OK) return r;
  std::vector<std::vector<float>> watched(size_t(o.tensors), std::vector<float>(size_t(o.numel)));
  for (int k = 0; k < o.tensors; ++k) {
    for (int i = 0; i < o.numel; ++i) watched[size_t(k)][size_t(i)] = 0.01f * float((i + k) % 13);
    int32_t h;
    ttap_watch(s, ("layer" + std::to_string(k) + ".grad").c_str(), watched[size_t(k)].data(),
               TTAP_F32, uint64_t(o.numel), TTAP_GRAD, &h);
  }
  int64_t step = 0;
  for (; step < 50; ++step) ttap_step(s, step, nullptr);  // warm: buffers, tables
  ttap_flush(s);
  const double rss_before = rss_mib();

  // The burst: one NaN tensor per alert. Flushed every 1000 so the collector's bounded queue
  // (4096 items) takes them all instead of counting drops; the sink sees them within about 1 s.
  const float poisoned[4] = {1.0f, std::nanf(""), 2.0f, 3.0f};
  for (int a = 0; a < o.alerts; ++a) {
    ttap_observe(s, ("burst." + std::to_string(a)).c_str(), poisoned, TTAP_F32, 4, TTAP_ACTIVATION,
                 step, nullptr);
    if (a % 1000 == 999) ttap_flush(s);
  }
  ttap_flush(s);

  // Timed: the training thread's steps while the sink delivers.
  std::vector<double> per_call;
  const auto until = clock_type::now() + std::chrono::duration<double>(o.measure_s);
  while (clock_type::now() < until) {
    const auto t0 = clock_type::now();
    ttap_step(s, ++step, nullptr);
    per_call.push_back(std::chrono::duration<double, std::nano>(clock_type::now() - t0).count());
  }
  r.rss_growth_mib = rss_mib() - rss_before;
  const auto c0 = clock_type::now();
  ttap_close(s);
  r.close_s = std::chrono::duration<double>(clock_type::now() - c0).count();
  capture.restore();
  r.summary = capture.line_with("alert webhook");
  r.step_ns = median(per_call);
  r.ok = true;
  return r;
}

}  // namespace

webhook_bench_report run_webhook_bench(const webhook_bench_options &o) {
  webhook_bench_report out;
  char tmpl[] = "/tmp/ttap-bench-webhook-XXXXXX";
  const char *base = mkdtemp(tmpl);
  if (!base) {
    out.error = "cannot create a temporary directory";
    return out;
  }
  const std::string dir = base;
  std::string error;
  http_receiver::options slow;
  slow.delay_s = o.receiver_delay_s;
  auto receiver = http_receiver::start(slow, &error);
  if (!receiver) {
    out.error = "receiver: " + error;
    return out;
  }
  std::vector<double> closes;
  for (int run = 0; run < o.runs; ++run) {
    // Alternating, so that load from elsewhere on the machine falls on both alike.
    run_result without = one_run(o, dir + "/without-" + std::to_string(run), "", "");
    run_result with = one_run(o, dir + "/with-" + std::to_string(run), receiver->url(), "");
    if (!without.ok || !with.ok) {
      out.error = "a session did not open";
      return out;
    }
    out.step_ns_without.push_back(without.step_ns);
    closes.push_back(without.close_s);
    out.step_ns_with.push_back(with.step_ns);
    out.rss_growth_without_mib = std::max(out.rss_growth_without_mib, without.rss_growth_mib);
    out.rss_growth_with_mib = std::max(out.rss_growth_with_mib, with.rss_growth_mib);
    out.sink_summary = with.summary;
  }
  out.delivered_requests = receiver->requests();
  receiver->stop();
  out.close_without_s = median(closes);
  out.median_without_ns = median(out.step_ns_without);
  out.median_with_ns = median(out.step_ns_with);
  out.ratio = out.median_without_ns > 0 ? out.median_with_ns / out.median_without_ns : 0;

  http_receiver::options dead;
  dead.answer = false;
  auto silent = http_receiver::start(dead, &error);
  if (silent) {
    char timeout[64];
    std::snprintf(timeout, sizeof timeout, ",alert_webhook_timeout_ms=%.0f", o.dead_timeout_ms);
    webhook_bench_options quick = o;
    quick.measure_s = 0.2;
    run_result r = one_run(quick, dir + "/dead", silent->url(), timeout);
    out.dead_close_s = r.close_s;
    out.dead_summary = r.summary;
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return out;
}

}  // namespace ttap::bench
