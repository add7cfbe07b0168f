// The webhook sink's two sides: offer() (collector thread: rate limit, bounded queue, never the
// network) and the sender thread (libcurl's multi interface, so that a transfer in flight can be
// abandoned the moment finish()'s deadline passes instead of when curl's own timeout fires).
#include "runtime/sinks/webhook_sink.h"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <mutex>
#include <nlohmann/json.hpp>

#include "runtime/clock.h"
#include "runtime/config.h"

namespace ttap {
namespace {

// libcurl's global state is set up once per process (curl_global_init is not thread-safe).
bool curl_ready() {
  static std::once_flag once;
  static bool ok = false;
  std::call_once(once, [] { ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK; });
  return ok;
}

size_t discard_body(char *, size_t size, size_t count, void *) { return size * count; }

// A post() that did not finish because finish()'s deadline passed.
constexpr long kAbandoned = -2;
constexpr long kNoAnswer = -1;

}  // namespace

webhook_sink::webhook_sink(const webhook_options &options) : m_options(options) {
  if (!(m_options.timeout_s > 0)) m_options.timeout_s = 5.0;
  if (m_options.attempts < 1) m_options.attempts = 1;
  if (!(m_options.backoff_s >= 0)) m_options.backoff_s = 0;
  if (m_options.queue_capacity < 1) m_options.queue_capacity = 1;
  if (!(m_options.limit.burst >= 1.0)) m_options.limit.burst = 1.0;
  if (!(m_options.limit.lines_per_second >= 0.0)) m_options.limit.lines_per_second = 0.0;
  for (type_bucket &b : m_buckets) b.tokens = m_options.limit.burst;
}

std::unique_ptr<webhook_sink> webhook_sink::start(const webhook_options &options,
                                                  std::string *error) {
  const std::string &url = options.url;
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
    *error = "alert_webhook '" + redacted_url(url) + "': expected an http:// or https:// URL";
    return nullptr;
  }
  if (url.find_first_of(" \t\r\n") != std::string::npos) {
    *error = "alert_webhook: the URL contains white space";
    return nullptr;
  }
  if (!curl_ready()) {
    *error = "alert_webhook: libcurl could not be initialized";
    return nullptr;
  }
  std::unique_ptr<webhook_sink> sink(new webhook_sink(options));
  CURL *curl = curl_easy_init();
  CURLM *multi = curl_multi_init();
  if (!curl || !multi) {
    if (curl) curl_easy_cleanup(curl);
    if (multi) curl_multi_cleanup(multi);
    sink->m_options.log = nullptr;  // nothing ran: no summary line
    *error = "alert_webhook: libcurl could not create a handle";
    return nullptr;
  }
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);  // a library thread must not take SIGALRM
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "tensortap");
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard_body);
  // Redirects are not followed: a webhook that moved is a configuration error to report.
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  sink->m_curl = curl;
  sink->m_multi = multi;
  sink->m_thread = std::thread([s = sink.get()] { s->run(); });
  return sink;
}

webhook_sink::~webhook_sink() {
  finish();
  if (m_multi) curl_multi_cleanup(static_cast<CURLM *>(m_multi));
  if (m_curl) curl_easy_cleanup(static_cast<CURL *>(m_curl));
}

void webhook_sink::offer(const alert &a) noexcept { offer(a, monotonic_seconds()); }

void webhook_sink::offer(const alert &a, double now_s) noexcept {
  type_bucket &b = m_buckets[std::min(size_t(a.type), size_t(kLastAlertType))];
  // The stderr printer's bucket, one per type: a flood of one type does not hide another.
  if (std::isfinite(now_s)) {
    if (b.started && now_s > b.last_refill)
      b.tokens = std::min(m_options.limit.burst,
                          b.tokens + (now_s - b.last_refill) * m_options.limit.lines_per_second);
    b.last_refill = now_s;
    b.started = true;
  }
  bool exempt = false;
  if (a.type == alert_type::nonfinite) {
    exempt = !m_nonfinite_seen || a.step != m_nonfinite_step;
    m_nonfinite_seen = true;
    m_nonfinite_step = a.step;
  }
  bool suppressed = false;
  if (b.tokens >= 1.0)
    b.tokens -= 1.0;
  else if (!exempt)
    suppressed = true;

  std::lock_guard<std::mutex> lock(m_mutex);
  ++m_counts.offered;
  if (suppressed) {
    ++m_counts.suppressed;
    ++b.unreported;
    return;
  }
  if (m_closing || m_queue.size() >= m_options.queue_capacity) {
    ++m_counts.dropped;
    return;
  }
  try {
    m_queue.push_back({a, b.unreported});
  } catch (...) {
    ++m_counts.dropped;  // out of memory: this alert is lost, the run goes on
    return;
  }
  b.unreported = 0;
  m_counts.peak_queue = std::max(m_counts.peak_queue, m_queue.size());
  m_wake.notify_one();
}

std::string webhook_sink::payload(const alert &a, uint64_t suppressed_before) const {
  char head[160];
  if (m_options.world > 1)
    std::snprintf(head, sizeof head, "ttap[rank %" PRId32 "] %s on %s: step %" PRId64 ": ",
                  m_options.rank, m_options.run.c_str(), m_options.host.c_str(), a.step);
  else
    std::snprintf(head, sizeof head, "ttap %s on %s: step %" PRId64 ": ", m_options.run.c_str(),
                  m_options.host.c_str(), a.step);
  std::string text = head + a.message;
  if (suppressed_before > 0)
    text += " (" + std::to_string(suppressed_before) + " earlier " + alert_type_name(a.type) +
            " alerts not sent: rate limit; all are in the store)";
  nlohmann::json j = {
      {"run", m_options.run}, {"host", m_options.host}, {"rank", a.rank},
      {"step", a.step},       {"time", a.time},         {"type", alert_type_name(a.type)},
      {"tensor", a.tensor},   {"message", a.message},   {"suppressed_before", suppressed_before},
      {"text", text},  // Slack and Mattermost incoming webhooks show `text` as is
  };
  // Tensor names are the trainer's bytes: invalid UTF-8 is replaced, never a reason to fail.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool webhook_sink::past_deadline() const {
  std::lock_guard<std::mutex> lock(m_mutex);
  return m_closing && monotonic_seconds() >= m_deadline;
}

long webhook_sink::post(const std::string &body, double timeout_s, std::string *why) {
  CURL *curl = static_cast<CURL *>(m_curl);
  CURLM *multi = static_cast<CURLM *>(m_multi);
  curl_slist *headers = curl_slist_append(nullptr, "Content-Type: application/json");
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, long(body.size()));
  const long timeout_ms = std::max(1L, long(timeout_s * 1000));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  curl_multi_add_handle(multi, curl);
  CURLcode result = CURLE_OK;
  bool finished = false, abandoned = false;
  for (;;) {
    int running = 0;
    if (curl_multi_perform(multi, &running) != CURLM_OK) {
      result = CURLE_FAILED_INIT;
      finished = true;
    }
    int left = 0;
    while (CURLMsg *msg = curl_multi_info_read(multi, &left)) {
      if (msg->msg == CURLMSG_DONE) {
        result = msg->data.result;
        finished = true;
      }
    }
    if (finished) break;
    if (past_deadline()) {
      abandoned = true;
      break;
    }
    // Short polls: finish() also wakes this with curl_multi_wakeup.
    curl_multi_poll(multi, nullptr, 0, 50, nullptr);
  }
  curl_multi_remove_handle(multi, curl);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
  curl_slist_free_all(headers);
  if (abandoned) return kAbandoned;
  if (result != CURLE_OK) {
    *why = curl_easy_strerror(result);
    return kNoAnswer;
  }
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  if (status >= 200 && status < 300) return 0;
  *why = "HTTP status " + std::to_string(status);
  return status > 0 ? status : kNoAnswer;
}

void webhook_sink::warn_once_unreachable(const std::string &why) {
  if (m_warned || !m_options.log) return;
  m_warned = true;
  std::fprintf(m_options.log,
               "ttap: alert webhook %s: cannot deliver (%s); alerts that cannot be delivered are "
               "counted and reported when the run ends\n",
               redacted_url(m_options.url).c_str(), why.c_str());
  std::fflush(m_options.log);
}

bool webhook_sink::deliver(const queued_alert &q) {
  std::string body;
  try {
    body = payload(q.value, q.suppressed_before);
  } catch (...) {
    return false;
  }
  const int attempts = m_receiver_down ? 1 : m_options.attempts;
  double backoff = m_options.backoff_s;
  std::string why;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    double timeout = m_options.timeout_s;
    {
      std::lock_guard<std::mutex> lock(m_mutex);
      if (m_closing) timeout = std::min(timeout, m_deadline - monotonic_seconds());
    }
    if (timeout <= 0) return false;
    const long status = post(body, timeout, &why);
    if (status == 0) {
      m_receiver_down = false;
      return true;
    }
    if (status == kAbandoned) return false;
    // A 4xx other than 408/429 is the receiver refusing this request: retrying will not help.
    if (status >= 400 && status < 500 && status != 408 && status != 429) {
      warn_once_unreachable(why);
      return false;
    }
    if (attempt + 1 < attempts) {
      std::unique_lock<std::mutex> lock(m_mutex);
      m_wake.wait_for(lock, std::chrono::duration<double>(backoff),
                      [&] { return m_closing && monotonic_seconds() >= m_deadline; });
      backoff *= 2;
    }
  }
  m_receiver_down = true;
  warn_once_unreachable(why);
  return false;
}

void webhook_sink::run() {
  for (;;) {
    queued_alert q;
    {
      std::unique_lock<std::mutex> lock(m_mutex);
      m_wake.wait(lock, [&] { return !m_queue.empty() || m_closing; });
      if (m_queue.empty()) return;
      if (m_closing && monotonic_seconds() >= m_deadline) {
        m_counts.dropped += m_queue.size();
        m_queue.clear();
        return;
      }
      q = std::move(m_queue.front());
      m_queue.pop_front();
    }
    const bool delivered = deliver(q);
    std::lock_guard<std::mutex> lock(m_mutex);
    if (delivered)
      ++m_counts.delivered;
    else if (m_closing && monotonic_seconds() >= m_deadline)
      ++m_counts.dropped;  // given up at close, not refused
    else
      ++m_counts.failed;
  }
}

webhook_counts webhook_sink::counts() const {
  std::lock_guard<std::mutex> lock(m_mutex);
  return m_counts;
}

webhook_counts webhook_sink::finish() noexcept {
  if (m_closed) return counts();
  m_closed = true;
  {
    std::lock_guard<std::mutex> lock(m_mutex);
    m_closing = true;
    m_deadline = monotonic_seconds() + m_options.timeout_s;
  }
  m_wake.notify_all();
  if (m_multi) curl_multi_wakeup(static_cast<CURLM *>(m_multi));
  if (m_thread.joinable()) m_thread.join();
  const webhook_counts c = counts();
  if (m_options.log) {
    char prefix[32] = "ttap";
    if (m_options.world > 1) std::snprintf(prefix, sizeof prefix, "ttap[rank %d]", m_options.rank);
    std::fprintf(m_options.log,
                 "%s: alert webhook %s: %" PRIu64 " delivered, %" PRIu64
                 " suppressed (rate limit), %" PRIu64 " dropped (queue full or closing), %" PRIu64
                 " failed; queue peak %zu of %zu\n",
                 prefix, redacted_url(m_options.url).c_str(), c.delivered, c.suppressed, c.dropped,
                 c.failed, c.peak_queue, m_options.queue_capacity);
    std::fflush(m_options.log);
  }
  return c;
}

std::unique_ptr<sink> make_webhook_sink(const session_config &config, const std::string &host,
                                        std::string *error) {
  webhook_options w;
  w.url = config.alert_webhook;
  w.run = run_name(config.run_dir);
  w.host = host;
  w.rank = config.rank;
  w.world = config.world;
  w.timeout_s = config.alert_webhook_timeout_ms * 1e-3;
  return webhook_sink::start(w, error);
}

}  // namespace ttap
