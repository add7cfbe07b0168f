// The sink list of a session, in the order every record and alert reaches them.
#include "runtime/config.h"
#include "runtime/sinks/alert_printer.h"
#include "runtime/sinks/sink.h"

namespace ttap {

std::unique_ptr<sink> make_sinks(const session_config &config, const std::string &host,
                                 std::unique_ptr<store> st, std::string *error,
                                 std::shared_ptr<alert_inbox> inbox) {
  auto fanout = std::make_unique<sink_fanout>();
  if (st) fanout->add(make_store_sink(std::move(st)));
  fanout->add(std::make_unique<alert_printer>(stderr, config.rank, config.world));
  if (!config.jsonl.empty()) {
    auto jsonl = make_jsonl_sink(config.jsonl, error);
    if (!jsonl) return nullptr;
    fanout->add(std::move(jsonl));
  }
  if (!config.alert_webhook.empty()) {
    auto webhook = make_webhook_sink(config, host, error);
    if (!webhook) return nullptr;
    fanout->add(std::move(webhook));
  }
  // Last: acts once the others have the alert (stored, printed, queued for the webhook).
  fanout->add(make_response_sink(config, fanout.get(), std::move(inbox)));
  return fanout;
}

}  // namespace ttap
