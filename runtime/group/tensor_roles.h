// Which role a tensor plays in a group (tensor_role in record.h), from the user's globs, the role
// the code declared (ttap_set_role) and the tensor's kind, so that sharded tensors (tensor
// parallel, FSDP) raise no false divergence alarm.
#pragma once

#include <optional>
#include <string>

#include "runtime/config.h"
#include "runtime/record.h"

namespace ttap {

// The first match wins: a `sharded` glob, then a `replicated` glob (what the person running the job
// says), then the `declared` role (what the code knows: ttap_set_role), then the kind: param ->
// replicated (data-parallel replicas), grad and activation -> contribution (each rank's own batch),
// other and collective (a reduction buffer the hooks saw) -> sharded (nothing is assumed, so
// nothing is compared).
tensor_role role_of(const std::string &name, tensor_kind kind, const session_config &config,
                    std::optional<tensor_role> declared = std::nullopt);

// Whether `name` matches one of the fnmatch globs in `globs` (joined by '|'; empty: none).
bool matches_any(const std::string &name, const std::string &globs);

}  // namespace ttap
