// Glob matching for the group roles (fnmatch without flags: '*' also crosses the '.' of dotted
// names, which is what "layers.*.weight" is meant to do).
#include "runtime/group/tensor_roles.h"

#include <fnmatch.h>

namespace ttap {

bool matches_any(const std::string &name, const std::string &globs) {
  size_t begin = 0;
  while (begin < globs.size()) {
    size_t end = globs.find('|', begin);
    if (end == std::string::npos) end = globs.size();
    const std::string glob = globs.substr(begin, end - begin);
    if (!glob.empty() && fnmatch(glob.c_str(), name.c_str(), 0) == 0) return true;
    begin = end + 1;
  }
  return false;
}

tensor_role role_of(const std::string &name, tensor_kind kind, const session_config &config,
                    std::optional<tensor_role> declared) {
  if (matches_any(name, config.sharded)) return tensor_role::sharded;
  if (matches_any(name, config.replicated)) return tensor_role::replicated;
  if (declared) return *declared;
  switch (kind) {
    case tensor_kind::param:
      return tensor_role::replicated;
    case tensor_kind::grad:
    case tensor_kind::activation:
      return tensor_role::contribution;
    case tensor_kind::other:
    // A reduction buffer the hooks saw is an input (this rank's part) or, with TTAP_HOOKS_RECV, a
    // result (one replica); the kind does not say which, so nothing is assumed.
    case tensor_kind::collective:
      break;
  }
  return tensor_role::sharded;
}

}  // namespace ttap
