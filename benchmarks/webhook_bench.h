// The alert webhook's cost to the training thread (`ttap bench --webhook`): ttap_step's median
// while 10,000 alerts offered in one burst are delivered to a receiver that answers in 100 ms,
// against the same run without a webhook, alternating; and how long ttap_close takes when the
// receiver never answers.
#pragma once

#include <string>
#include <vector>

namespace ttap::bench {

struct webhook_bench_options {
  int alerts = 10000;  // nonfinite alerts in the burst (one per observed tensor)
  double receiver_delay_s = 0.1;
  int tensors = 100;  // watched host tensors of `numel` fp32 each
  int numel = 256;
  double measure_s = 2.0;         // stepping after the burst, per run
  int runs = 3;                   // per configuration, alternating
  double dead_timeout_ms = 1000;  // alert_webhook_timeout_ms for the never-answering case
};

struct webhook_bench_report {
  std::vector<double> step_ns_without, step_ns_with;  // median ttap_step per run
  double median_without_ns = 0, median_with_ns = 0;   // medians of the runs' medians
  double ratio = 0;                                   // with / without
  std::string sink_summary;         // the sink's own closing line, from one run with the webhook
  uint64_t delivered_requests = 0;  // what the receiver got, over every run with the webhook
  double rss_growth_without_mib = 0, rss_growth_with_mib = 0;  // largest over the runs
  double close_without_s = 0;  // ttap_close without a webhook (the store's own close), median
  double dead_close_s = 0;     // ttap_close with a receiver that never answers
  std::string dead_summary;
  std::string error;
};

webhook_bench_report run_webhook_bench(const webhook_bench_options &o);

}  // namespace ttap::bench
