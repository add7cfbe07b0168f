// NVTX injection: InitializeInjectionNvtx2 attaches to every copy of NVTX in the process (each
// instrumented library carries its own and calls it once) and installs range handlers that keep
// the per-thread range stacks of range_path.h, and open steps at the range TTAP_STEP_RANGE names.
// Only ranges are handled: markers, categories, thread names and resources stay no-ops.
#include <dlfcn.h>

#include <atomic>
#include <deque>
#include <mutex>
#include <string>

#include "collectors/inject/hook_runtime.h"
#include "collectors/inject/range_path.h"
#include "nvtx3/nvToolsExt.h"

namespace ttap::inject {
namespace {

// Domains and registered strings are handles the program keeps; they point into these deques,
// which never move their elements and are bounded (a handle past the bound is null). The tables
// are never destroyed: a handle stays valid in an atexit handler or a thread that outlives
// static destruction.
constexpr size_t kMaxHandles = 1 << 16;
struct handle_tables {
  std::mutex mutex;
  std::deque<std::string> domain_names;
  std::deque<std::string> strings;
};

handle_tables &handles() {
  static auto *tables = new handle_tables;
  return *tables;
}

std::string narrow(const wchar_t *w) {
  std::string s;
  for (; w && *w; ++w) s += (*w >= 0x20 && *w < 0x7f) ? char(*w) : '?';
  return s;
}

const std::string *intern(std::deque<std::string> &table, std::string s) {
  std::lock_guard<std::mutex> lock(handles().mutex);
  if (table.size() >= kMaxHandles) return nullptr;
  table.push_back(std::move(s));
  return &table.back();
}

std::string message_of(const nvtxEventAttributes_t *a) {
  if (!a) return "";
  switch (a->messageType) {
    case NVTX_MESSAGE_TYPE_ASCII:
      return a->message.ascii ? a->message.ascii : "";
    case NVTX_MESSAGE_TYPE_UNICODE:
      return narrow(a->message.unicode);
    case NVTX_MESSAGE_TYPE_REGISTERED:
      return a->message.registered ? *reinterpret_cast<const std::string *>(a->message.registered)
                                   : "";
    default:
      return "";
  }
}

int push(const void *domain, const std::string &name) {
  range_pushed(domain, name.c_str());
  range_opened(name.c_str());
  return 0;
}

// Start/end ranges may end on another thread, so they are not part of the path; they can open a
// step (a training loop marked with nvtxRangeStart).
nvtxRangeId_t start(const std::string &name) {
  range_opened(name.c_str());
  static std::atomic<nvtxRangeId_t> next_id{1};
  return next_id++;
}

int NVTX_API range_push_a(const char *message) { return push(nullptr, message ? message : ""); }
int NVTX_API range_push_w(const wchar_t *message) { return push(nullptr, narrow(message)); }
int NVTX_API range_push_ex(const nvtxEventAttributes_t *a) { return push(nullptr, message_of(a)); }
int NVTX_API range_pop() {
  range_popped(nullptr);
  return 0;
}
nvtxRangeId_t NVTX_API range_start_a(const char *message) { return start(message ? message : ""); }
nvtxRangeId_t NVTX_API range_start_w(const wchar_t *message) { return start(narrow(message)); }
nvtxRangeId_t NVTX_API range_start_ex(const nvtxEventAttributes_t *a) {
  return start(message_of(a));
}
void NVTX_API range_end(nvtxRangeId_t) {}

int NVTX_API domain_range_push_ex(nvtxDomainHandle_t d, const nvtxEventAttributes_t *a) {
  return push(d, message_of(a));
}
int NVTX_API domain_range_pop(nvtxDomainHandle_t d) {
  range_popped(d);
  return 0;
}
nvtxRangeId_t NVTX_API domain_range_start_ex(nvtxDomainHandle_t, const nvtxEventAttributes_t *a) {
  return start(message_of(a));
}
void NVTX_API domain_range_end(nvtxDomainHandle_t, nvtxRangeId_t) {}
nvtxDomainHandle_t NVTX_API domain_create_a(const char *name) {
  return reinterpret_cast<nvtxDomainHandle_t>(
      const_cast<std::string *>(intern(handles().domain_names, name ? name : "")));
}
nvtxDomainHandle_t NVTX_API domain_create_w(const wchar_t *name) {
  return reinterpret_cast<nvtxDomainHandle_t>(
      const_cast<std::string *>(intern(handles().domain_names, narrow(name))));
}
void NVTX_API domain_destroy(nvtxDomainHandle_t) {}
nvtxStringHandle_t NVTX_API register_string_a(nvtxDomainHandle_t, const char *s) {
  return reinterpret_cast<nvtxStringHandle_t>(
      const_cast<std::string *>(intern(handles().strings, s ? s : "")));
}
nvtxStringHandle_t NVTX_API register_string_w(nvtxDomainHandle_t, const wchar_t *s) {
  return reinterpret_cast<nvtxStringHandle_t>(
      const_cast<std::string *>(intern(handles().strings, narrow(s))));
}

template <class F>
void install(NvtxFunctionTable table, unsigned size, unsigned id, F fn) {
  if (table && id < size && table[id]) *table[id] = reinterpret_cast<NvtxFunctionPointer>(fn);
}

int attach(NvtxGetExportTableFunc_t get_export_table) {
  if (!get_export_table) return 0;
  auto *callbacks =
      static_cast<const NvtxExportTableCallbacks *>(get_export_table(NVTX_ETID_CALLBACKS));
  if (!callbacks || callbacks->struct_size < sizeof(NvtxExportTableCallbacks) ||
      !callbacks->GetModuleFunctionTable)
    return 0;
  NvtxFunctionTable core = nullptr, core2 = nullptr;
  unsigned core_size = 0, core2_size = 0;
  if (!callbacks->GetModuleFunctionTable(NVTX_CB_MODULE_CORE, &core, &core_size)) return 0;
  install(core, core_size, NVTX_CBID_CORE_RangePushA, range_push_a);
  install(core, core_size, NVTX_CBID_CORE_RangePushW, range_push_w);
  install(core, core_size, NVTX_CBID_CORE_RangePushEx, range_push_ex);
  install(core, core_size, NVTX_CBID_CORE_RangePop, range_pop);
  install(core, core_size, NVTX_CBID_CORE_RangeStartA, range_start_a);
  install(core, core_size, NVTX_CBID_CORE_RangeStartW, range_start_w);
  install(core, core_size, NVTX_CBID_CORE_RangeStartEx, range_start_ex);
  install(core, core_size, NVTX_CBID_CORE_RangeEnd, range_end);
  if (callbacks->GetModuleFunctionTable(NVTX_CB_MODULE_CORE2, &core2, &core2_size)) {
    install(core2, core2_size, NVTX_CBID_CORE2_DomainRangePushEx, domain_range_push_ex);
    install(core2, core2_size, NVTX_CBID_CORE2_DomainRangePop, domain_range_pop);
    install(core2, core2_size, NVTX_CBID_CORE2_DomainRangeStartEx, domain_range_start_ex);
    install(core2, core2_size, NVTX_CBID_CORE2_DomainRangeEnd, domain_range_end);
    install(core2, core2_size, NVTX_CBID_CORE2_DomainCreateA, domain_create_a);
    install(core2, core2_size, NVTX_CBID_CORE2_DomainCreateW, domain_create_w);
    install(core2, core2_size, NVTX_CBID_CORE2_DomainDestroy, domain_destroy);
    install(core2, core2_size, NVTX_CBID_CORE2_DomainRegisterStringA, register_string_a);
    install(core2, core2_size, NVTX_CBID_CORE2_DomainRegisterStringW, register_string_w);
  }
  return 1;
}

}  // namespace
}  // namespace ttap::inject

extern "C" __attribute__((visibility("default"))) int InitializeInjectionNvtx2(
    NvtxGetExportTableFunc_t get_export_table) {
  using init_fn = int (*)(NvtxGetExportTableFunc_t);
  if (!ttap::inject::hooks_active()) {
    // A second copy of this library (another file): hand the NVTX copy to the primary one, so that
    // every range lands in the same stacks.
    auto primary = reinterpret_cast<init_fn>(dlsym(RTLD_DEFAULT, "InitializeInjectionNvtx2"));
    if (primary) return primary(get_export_table);
    return 0;
  }
  return ttap::inject::attach(get_export_table);
}
