// Webhook URLs in log lines and in the store: their secret is often in the path (Slack's
// /services/T/B/token) or in a user:password, so only the scheme, host and port are shown.
#pragma once

#include <string>

namespace ttap {

// "https://hooks.slack.com/services/T/B/x" -> "https://hooks.slack.com/..."
inline std::string redacted_url(const std::string &url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return "(not a URL)";
  size_t host_begin = scheme_end + 3;
  size_t host_end = url.find_first_of("/?#", host_begin);
  std::string authority = url.substr(
      host_begin, host_end == std::string::npos ? std::string::npos : host_end - host_begin);
  if (size_t at = authority.rfind('@'); at != std::string::npos) authority.erase(0, at + 1);
  std::string out = url.substr(0, host_begin) + authority;
  if (host_end != std::string::npos && url.size() > host_end + 1) out += "/...";
  return out;
}

}  // namespace ttap
