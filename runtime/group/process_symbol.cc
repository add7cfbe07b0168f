// The lookup behind find_process_symbol: dlsym over the global scope, then a walk of the loaded
// objects, skipping any object that carries the interposers' marker symbol.
#include "runtime/group/process_symbol.h"

#include <dlfcn.h>

#include "runtime/loaded_objects.h"

namespace ttap {
namespace {

// libttap_inject exports this marker (collectors/inject/hook_runtime.cc).
constexpr const char *kInterposerMarker = "ttap_inject_instance";

// Whether `p` lies in an object that defines the interposers' marker itself (not through one of
// its dependencies: dlsym on a handle also searches those).
bool in_interposer(void *p) {
  Dl_info info{};
  if (!dladdr(p, &info) || !info.dli_fname || !*info.dli_fname) return false;
  void *handle = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
  if (!handle) return false;
  void *marker = dlsym(handle, kInterposerMarker);
  dlclose(handle);  // only drops the reference RTLD_NOLOAD added
  Dl_info marker_info{};
  return marker && dladdr(marker, &marker_info) && marker_info.dli_fbase == info.dli_fbase;
}

}  // namespace

void *find_process_symbol(const char *name) {
  if (void *p = dlsym(RTLD_DEFAULT, name); p && !in_interposer(p)) return p;
  return find_in_loaded_objects(name, [](void *p) { return !in_interposer(p); });
}

}  // namespace ttap
