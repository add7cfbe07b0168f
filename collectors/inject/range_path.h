// The calling thread's NVTX range stack (default domain), as a path "forward/layer3". Fed by the
// NVTX injection; read by the collective hooks to tag the tensors they store.
#pragma once

#include <string_view>

namespace ttap::inject {

// domain: the NVTX domain handle, null for the default domain. Ranges of other domains are kept
// (their pops must match) but do not appear in the path.
void range_pushed(const void *domain, const char *name);
void range_popped(const void *domain);

// "" when no default-domain range is open on this thread. Valid until the thread's next push or
// pop. The state behind it is trivially destructible: safe to call from TLS destructors and
// atexit handlers.
std::string_view range_path();

}  // namespace ttap::inject
