// The on_nonfinite / on_spike values: the registry's bits to a policy, and back to text.
#include "runtime/response/response_policy.h"

#include <utility>

namespace ttap {

response_policy response_policy_of_bits(int64_t bits) {
  response_policy p;
  p.skip = bits & (1 << 1);
  p.dump = bits & (1 << 2);
  p.abort = bits & (1 << 3);
  return p;
}

std::string response_policy_text(const response_policy &p) {
  std::string s;
  for (auto [on, name] : {std::pair{p.skip, "skip"}, {p.dump, "dump"}, {p.abort, "abort"}})
    if (on) s += (s.empty() ? "" : "+") + std::string(name);
  return s.empty() ? "warn" : s;
}

}  // namespace ttap
