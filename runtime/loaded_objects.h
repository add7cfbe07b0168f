// The walk over the objects loaded in this process that both symbol lookups share: the runtime's
// (MPI and NCCL found without linking them) and the interposers' (the next definition of a hooked
// function). dlsym on RTLD_DEFAULT or RTLD_NEXT misses libraries opened with RTLD_LOCAL, as Python
// extensions are; this walk reaches them.
#pragma once

#include <dlfcn.h>
#include <link.h>

#include <string>
#include <vector>

namespace ttap {

// The file names of the loaded objects, in the loader's order. The main program (an empty name)
// is left out: the global lookups already cover it.
inline std::vector<std::string> loaded_object_names() {
  std::vector<std::string> names;
  dl_iterate_phdr(
      [](dl_phdr_info *info, size_t, void *data) {
        if (info->dlpi_name && *info->dlpi_name)
          static_cast<std::vector<std::string> *>(data)->emplace_back(info->dlpi_name);
        return 0;
      },
      &names);
  return names;
}

// The first definition of `name` in a loaded object that `accept(address)` takes; null when none.
// Names are collected first and opened afterwards: dlopen inside dl_iterate_phdr's callback would
// nest the loader's locks. Each object is opened with RTLD_NOLOAD (never loads anything) and the
// reference that adds is dropped at once.
template <class Accept>
void *find_in_loaded_objects(const char *name, Accept &&accept) {
  for (const std::string &object : loaded_object_names()) {
    void *handle = dlopen(object.c_str(), RTLD_LAZY | RTLD_NOLOAD);
    if (!handle) continue;
    void *p = dlsym(handle, name);
    dlclose(handle);
    if (p && accept(p)) return p;
  }
  return nullptr;
}

}  // namespace ttap
