// Fibers of the SIMT emulator: the x86-64 context switch (a few instructions of assembly), its
// ucontext fallback, guard-paged fiber stacks and the handler that turns a guard-page fault into a
// clear "fiber stack overflow" message.
#include "kernels/simt/fiber.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>

#include "kernels/simt/tsan.h"

#if defined(__SANITIZE_ADDRESS__)
#define TTAP_SIMT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TTAP_SIMT_ASAN 1
#endif
#endif
#if !defined(TTAP_SIMT_ASAN)
#define TTAP_SIMT_ASAN 0
#endif
#if TTAP_SIMT_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

#if !TTAP_SIMT_UCONTEXT
// The switch saves the six callee-saved integer registers plus MXCSR and the x87 control word (the
// SysV ABI makes their control bits callee-saved too) on the old stack, stores the old stack
// pointer, loads the new one and pops the same frame back. Caller-saved registers need no saving:
// the switch is an ordinary call, so the compiler has already spilled whatever it needs. A new
// fiber's stack is prepared by make_context so that the first switch into it "returns" into
// ttap_simt_fiber_start, which calls entry(arg) with the stack aligned as the ABI requires.
asm(R"(
  .text
  .globl ttap_simt_switch_stack
  .hidden ttap_simt_switch_stack
  .type ttap_simt_switch_stack, @function
  .p2align 4
ttap_simt_switch_stack:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size ttap_simt_switch_stack, .-ttap_simt_switch_stack

  .globl ttap_simt_fiber_start
  .hidden ttap_simt_fiber_start
  .type ttap_simt_fiber_start, @function
  .p2align 4
ttap_simt_fiber_start:
  movq %r12, %rdi
  callq *%r13
  ud2
  .size ttap_simt_fiber_start, .-ttap_simt_fiber_start
)");

extern "C" void ttap_simt_switch_stack(void **save_sp, void *load_sp);
extern "C" void ttap_simt_fiber_start();
#endif

namespace ttap::simt::detail {
namespace {

size_t page_bytes() {
  static const size_t bytes = size_t(sysconf(_SC_PAGESIZE));
  return bytes;
}

#if TTAP_SIMT_ASAN
// The stack of this OS thread's scheduler, learned when a fiber finishes a switch from it (ASan
// reports the stack a switch came from), used for the switches back. The functions that switch
// are TTAP_SIMT_FIBER_ENTRY: a fake frame of theirs alive when a fiber finishes would stay
// allocated in the fake stack the next fiber reuses.
thread_local const void *t_scheduler_stack_bottom = nullptr;
thread_local size_t t_scheduler_stack_size = 0;

TTAP_SIMT_FIBER_ENTRY void finish_switch(void *fake_stack, bool in_fiber) {
  const void *from_bottom = nullptr;
  size_t from_size = 0;
  __sanitizer_finish_switch_fiber(fake_stack, &from_bottom, &from_size);
  if (in_fiber) {
    t_scheduler_stack_bottom = from_bottom;
    t_scheduler_stack_size = from_size;
  }
}
#endif

#if TTAP_SIMT_UCONTEXT
// makecontext passes int arguments only, so the context pointer travels as two halves.
TTAP_SIMT_FIBER_ENTRY void ucontext_trampoline(unsigned hi, unsigned lo) {
  auto *ctx = reinterpret_cast<context *>((uintptr_t(hi) << 32) | uintptr_t(lo));
#if TTAP_SIMT_ASAN
  // The first switch into this fiber ends here, not in switch_context.
  finish_switch(ctx->asan_fake_stack, /*in_fiber=*/true);
#endif
  ctx->entry(ctx->arg);
  std::abort();  // entry never returns
}
#elif TTAP_SIMT_ASAN
TTAP_SIMT_FIBER_ENTRY void asan_fiber_start(void *arg) {
  auto *ctx = static_cast<context *>(arg);
  // The first switch into this fiber ends here, not in switch_context; it takes over the fake stack
  // the previous fiber on this stack finished with (none for the first: ASan makes one lazily).
  finish_switch(ctx->asan_fake_stack, /*in_fiber=*/true);
  ctx->asan_entry(ctx->asan_arg);
  std::abort();  // entry never returns
}
#endif

// Guard regions known to the fault handler: one per stack_pool (one per worker thread). A fixed
// array of atomics, because the handler may read it at any moment and must not take a lock.
struct guard_region {
  std::atomic<uintptr_t> begin{0};
  std::atomic<uintptr_t> end{0};
  std::atomic<uintptr_t> stride{0};
};
constexpr int kMaxGuardRegions = 256;
guard_region g_regions[kMaxGuardRegions];
std::mutex g_regions_mutex;  // serializes slot allocation, never taken by the handler

struct sigaction g_previous_segv;
struct sigaction g_previous_bus;

int register_region(uintptr_t begin, uintptr_t end, uintptr_t stride) {
  std::lock_guard<std::mutex> lock(g_regions_mutex);
  for (int i = 0; i < kMaxGuardRegions; ++i) {
    if (g_regions[i].begin.load(std::memory_order_relaxed) == 0) {
      g_regions[i].end.store(end, std::memory_order_relaxed);
      g_regions[i].stride.store(stride, std::memory_order_relaxed);
      g_regions[i].begin.store(begin, std::memory_order_release);
      return i;
    }
  }
  return -1;  // more pools than slots: their overflows still fault, just without the message
}

void unregister_region(int slot) {
  if (slot < 0) return;
  std::lock_guard<std::mutex> lock(g_regions_mutex);
  g_regions[slot].begin.store(0, std::memory_order_release);
}

bool in_guard_page(uintptr_t addr) {
  for (auto &r : g_regions) {
    uintptr_t begin = r.begin.load(std::memory_order_acquire);
    if (begin == 0 || addr < begin || addr >= r.end.load(std::memory_order_relaxed)) continue;
    if ((addr - begin) % r.stride.load(std::memory_order_relaxed) < page_bytes()) return true;
  }
  return false;
}

void on_fault(int sig, siginfo_t *info, void *ucontext) {
  if (in_guard_page(reinterpret_cast<uintptr_t>(info->si_addr))) {
    static const char kMessage[] =
        "ttap simt: fiber stack overflow: an emulated GPU thread ran past the end of its stack; "
        "raise ttap::simt::launch_options::stack_bytes\n";
    ssize_t ignored = write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
    (void)ignored;
    signal(sig, SIG_DFL);  // returning re-executes the access, which now kills the process
    return;
  }
  // Not ours: restore whoever was there before and let the fault happen again under them.
  const struct sigaction &previous = sig == SIGSEGV ? g_previous_segv : g_previous_bus;
  if ((previous.sa_flags & SA_SIGINFO) && previous.sa_sigaction) {
    previous.sa_sigaction(sig, info, ucontext);
  } else if (previous.sa_handler == SIG_DFL || previous.sa_handler == SIG_IGN) {
    signal(sig, SIG_DFL);
  } else {
    previous.sa_handler(sig);
  }
}

}  // namespace

const char *context_switch_kind() { return TTAP_SIMT_UCONTEXT ? "ucontext" : "x86-64 asm"; }

void make_context(context &ctx, void *stack_top, size_t stack_bytes, fiber_entry entry, void *arg) {
  ctx.stack_bottom = static_cast<unsigned char *>(stack_top) - stack_bytes;
  ctx.stack_size = stack_bytes;
#if TTAP_SIMT_ASAN && !TTAP_SIMT_UCONTEXT
  ctx.asan_entry = entry;
  ctx.asan_arg = arg;
  entry = &asan_fiber_start;
  arg = &ctx;
#endif
#if TTAP_SIMT_UCONTEXT
  getcontext(&ctx.uc);
  ctx.uc.uc_stack.ss_sp = static_cast<unsigned char *>(stack_top) - stack_bytes;
  ctx.uc.uc_stack.ss_size = stack_bytes;
  ctx.uc.uc_link = nullptr;
  ctx.entry = entry;
  ctx.arg = arg;
  auto p = reinterpret_cast<uintptr_t>(&ctx);
  makecontext(&ctx.uc, reinterpret_cast<void (*)()>(&ucontext_trampoline), 2, unsigned(p >> 32),
              unsigned(p & 0xffffffffu));
#else
  (void)stack_bytes;
  // The frame ttap_simt_switch_stack pops, lowest address first: FP control words, r15, r14, r13
  // (entry), r12 (arg), rbx, rbp, return address; then 16 bytes of zeros so a debugger's unwinder
  // finds a null return address above the fiber's first frame. New fibers inherit the creating
  // thread's rounding and denormal modes.
  uint32_t mxcsr;
  uint16_t fpucw;
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  asm volatile("fnstcw %0" : "=m"(fpucw));
  auto *sp = static_cast<uint64_t *>(stack_top) - 10;
  sp[0] = uint64_t(mxcsr) | (uint64_t(fpucw) << 32);
  sp[1] = 0;
  sp[2] = 0;
  sp[3] = reinterpret_cast<uint64_t>(entry);
  sp[4] = reinterpret_cast<uint64_t>(arg);
  sp[5] = 0;
  sp[6] = 0;
  sp[7] = reinterpret_cast<uint64_t>(&ttap_simt_fiber_start);
  sp[8] = 0;
  sp[9] = 0;
  ctx.sp = sp;
#endif
}

TTAP_SIMT_FIBER_ENTRY void switch_context(context &from, context &to,
                                          [[maybe_unused]] leave_kind how) {
#if TTAP_SIMT_TSAN
  __tsan_switch_to_fiber(to.tsan_fiber, 1 /* __tsan_switch_to_fiber_no_sync */);
#endif
#if TTAP_SIMT_ASAN
  // ASan hands back the fake stack of the context being left, kept for its resumption or for the
  // next fiber on its stack; an abandoned fiber's it frees, since frames still live in it would
  // stay allocated for good.
  void **save = &from.asan_fake_stack;
  if (how == leave_kind::abandon) {
    save = nullptr;
    from.asan_fake_stack = nullptr;
  }
  if (to.stack_bottom) {
    __sanitizer_start_switch_fiber(save, to.stack_bottom, to.stack_size);
  } else {
    __sanitizer_start_switch_fiber(save, t_scheduler_stack_bottom, t_scheduler_stack_size);
  }
#endif
#if TTAP_SIMT_UCONTEXT
  swapcontext(&from.uc, &to.uc);
#else
  ttap_simt_switch_stack(&from.sp, to.sp);
#endif
#if TTAP_SIMT_ASAN
  finish_switch(from.asan_fake_stack, from.stack_bottom != nullptr);
#endif
}

TTAP_SIMT_FIBER_ENTRY void release_context([[maybe_unused]] context &ctx) {
#if TTAP_SIMT_ASAN
  if (!ctx.asan_fake_stack) return;
  // ASan frees a fake stack only when the fiber it belongs to leaves for good, so this thread takes
  // it over for a moment, staying on its own stack (the bounds ASan reported when the thread's first
  // fiber started), and leaves it. Without those bounds (another thread) it is left mapped.
  if (t_scheduler_stack_bottom) {
    void *own = nullptr;
    __sanitizer_start_switch_fiber(&own, t_scheduler_stack_bottom, t_scheduler_stack_size);
    __sanitizer_finish_switch_fiber(ctx.asan_fake_stack, nullptr, nullptr);
    __sanitizer_start_switch_fiber(nullptr, t_scheduler_stack_bottom, t_scheduler_stack_size);
    __sanitizer_finish_switch_fiber(own, nullptr, nullptr);
  }
  ctx.asan_fake_stack = nullptr;
#endif
}

stack_pool::~stack_pool() { release(); }

void stack_pool::release() {
  unregister_region(m_registry_slot);
  m_registry_slot = -1;
  if (m_base) munmap(m_base, m_mapped);
  m_base = nullptr;
  m_mapped = m_count = m_stack_bytes = m_stride = 0;
}

void stack_pool::reserve(size_t count, size_t bytes) {
  const size_t page = page_bytes();
  size_t usable = (bytes + page - 1) / page * page;
  if (m_base && count <= m_count && usable == m_stack_bytes) return;
  // Grow in whole warps so a kernel whose blocks differ slightly in size does not remap every time.
  size_t want = std::max(count, m_stack_bytes == usable ? m_count : size_t(0));
  want = (want + 31) / 32 * 32;
  release();
  size_t stride = usable + page;
  size_t mapped = want * stride;
  int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
#if defined(MAP_STACK)
  flags |= MAP_STACK;
#endif
  void *base = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, flags, -1, 0);
  if (base == MAP_FAILED) throw std::bad_alloc();
  m_base = static_cast<unsigned char *>(base);
  m_mapped = mapped;
  m_count = want;
  m_stack_bytes = usable;
  m_stride = stride;
  for (size_t i = 0; i < want; ++i) mprotect(m_base + i * stride, page, PROT_NONE);
  m_registry_slot = register_region(uintptr_t(m_base), uintptr_t(m_base) + mapped, stride);
}

void *stack_pool::top(size_t i) const { return m_base + (i + 1) * m_stride; }

void install_stack_overflow_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction action;
    std::memset(&action, 0, sizeof action);
    action.sa_sigaction = &on_fault;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    sigaction(SIGSEGV, &action, &g_previous_segv);
    sigaction(SIGBUS, &action, &g_previous_bus);
  });
  // The handler runs on the faulting thread, whose fiber stack is exhausted by definition.
  stack_t current;
  if (sigaltstack(nullptr, &current) == 0 && !(current.ss_flags & SS_DISABLE)) return;
  constexpr size_t kAltStackBytes = 64 * 1024;
  static thread_local std::unique_ptr<unsigned char[]> alt_stack;
  alt_stack.reset(new unsigned char[kAltStackBytes]);
  stack_t st;
  st.ss_sp = alt_stack.get();
  st.ss_size = kAltStackBytes;
  st.ss_flags = 0;
  sigaltstack(&st, nullptr);
}

}  // namespace ttap::simt::detail
