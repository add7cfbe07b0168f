// The next-definition lookup of the interposers: RTLD_NEXT, then a walk over the loaded objects
// for libraries that live in a local scope, skipping this library itself.
#include "collectors/inject/next_symbol.h"

#include <dlfcn.h>

#include "runtime/loaded_objects.h"

namespace ttap::inject {
namespace {

const void *this_library_base() {
  Dl_info info{};
  if (!dladdr(reinterpret_cast<const void *>(&find_next_definition), &info)) return nullptr;
  return info.dli_fbase;
}

}  // namespace

void *find_next_definition(const char *name) {
  if (void *p = dlsym(RTLD_NEXT, name)) return p;
  const void *self = this_library_base();
  return find_in_loaded_objects(name, [self](void *p) {
    Dl_info info{};
    return dladdr(p, &info) && info.dli_fbase != self;
  });
}

void *find_loaded_symbol(const char *library, const char *name) {
  void *handle = dlopen(library, RTLD_LAZY | RTLD_NOLOAD);
  if (!handle) return nullptr;
  void *p = dlsym(handle, name);
  dlclose(handle);
  return p;
}

}  // namespace ttap::inject
