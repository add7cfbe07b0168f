// Fibers of the SIMT emulator (internal): a stack and a saved context per emulated GPU thread and
// the switch between them: hand-written on x86-64 (callee-saved registers only, no syscall, ~10x
// faster than swapcontext, which makes a sigprocmask syscall per switch), ucontext elsewhere.
#pragma once

#include <cstddef>
#include <cstdint>

#if defined(TTAP_SIMT_FORCE_UCONTEXT) || !(defined(__x86_64__) && defined(__ELF__))
#define TTAP_SIMT_UCONTEXT 1
#include <ucontext.h>
#else
#define TTAP_SIMT_UCONTEXT 0
#endif

namespace ttap::simt::detail {

using fiber_entry = void (*)(void *arg);

// Saved execution state of a fiber, or of the scheduler that runs the fibers of an OS thread.
struct context {
#if TTAP_SIMT_UCONTEXT
  ucontext_t uc;
  fiber_entry entry = nullptr;
  void *arg = nullptr;
#else
  void *sp = nullptr;  // the stack pointer; everything else lives on the stack
#endif
  void *tsan_fiber = nullptr;  // TSan's handle of this fiber (TSan builds only)
  // The fiber's stack, announced to AddressSanitizer at each switch into it (ASan builds; null
  // for a scheduler's context, which runs on its OS thread's own stack).
  const void *stack_bottom = nullptr;
  size_t stack_size = 0;
  // ASan's fake stack (where its stack-use-after-return check puts the frames of this context's
  // functions), handed back by ASan when the context is left and given to it again when the context
  // resumes. A fiber that finishes leaves it here for the next fiber on the same stack: creating one
  // per fiber (an mmap of 11 times the stack size, poisoned and unmapped when the fiber ends) made
  // the emulator 4-7x slower under ASan.
  void *asan_fake_stack = nullptr;
#if !TTAP_SIMT_UCONTEXT
  fiber_entry asan_entry = nullptr;  // entry(arg), called after the first switch is finished
  void *asan_arg = nullptr;
#endif
};

// How the context being left by switch_context goes on.
enum class leave_kind : uint8_t {
  suspend,  // it is resumed later
  finish,   // its fiber has ended: its entry function returned from every call and holds no ASan
            // fake frame itself (TTAP_SIMT_FIBER_ENTRY); the next fiber made on it reuses its state
  abandon,  // its fiber is never resumed, with frames still live on it: ASan frees its fake stack
};

// Marks a fiber entry function that ends with leave_kind::finish: without ASan's instrumentation
// its locals live on the fiber's real stack, so no fake frame of it outlives the fiber.
#define TTAP_SIMT_FIBER_ENTRY __attribute__((no_sanitize_address))

// Name of the switch in use ("x86-64 asm" or "ucontext"), for reports and benchmarks.
const char *context_switch_kind();

// Prepares `ctx` so that the next switch into it runs entry(arg) on the stack that ends at
// `stack_top` (16-byte aligned) and is `stack_bytes` long. `entry` must never return: it ends by
// switching away for good.
void make_context(context &ctx, void *stack_top, size_t stack_bytes, fiber_entry entry, void *arg);

// Saves the running state into `from` and resumes `to`; returns when something switches back to
// `from`. Tells TSan about the switch first (without a happens-before edge: the emulator adds those
// only at barriers, so TSan still sees races between threads of a block), and ASan which stack is
// current (__sanitizer_start/finish_switch_fiber), so it does not take a fiber's stack for a
// buffer overflow of the thread's. Fibers switch only to and from their thread's scheduler.
// `how` says whether `from` is resumed later, has finished or is abandoned (leave_kind).
void switch_context(context &from, context &to, leave_kind how = leave_kind::suspend);

// Frees what ASan keeps for `ctx` between fibers (its fake stack; nothing in other builds). Call on
// the OS thread that ran the context's fibers, while none of them runs, before the context or its
// stack goes away.
void release_context(context &ctx);

// Stacks for the fibers of one OS thread, in one mapping: [guard|stack][guard|stack]... Each guard
// page is PROT_NONE, so an overflowing fiber faults instead of corrupting its neighbour, and the
// fault handler (install_stack_overflow_handler) names the cause. Reused across blocks and
// launches.
class stack_pool {
 public:
  stack_pool() = default;
  ~stack_pool();
  stack_pool(const stack_pool &) = delete;
  stack_pool &operator=(const stack_pool &) = delete;

  // Makes room for `count` stacks of at least `bytes` each; keeps the mapping when it is big
  // enough.
  void reserve(size_t count, size_t bytes);
  // Top (highest address, 16-byte aligned) of stack i.
  void *top(size_t i) const;
  size_t stack_bytes() const { return m_stack_bytes; }
  size_t capacity() const { return m_count; }

 private:
  void release();

  unsigned char *m_base = nullptr;
  size_t m_mapped = 0;
  size_t m_count = 0;
  size_t m_stack_bytes = 0;  // usable bytes per stack, a multiple of the page size
  size_t m_stride = 0;       // guard page + stack
  int m_registry_slot = -1;
};

// Gives the calling OS thread an alternate signal stack and installs (once per process) a SIGSEGV
// handler that recognizes faults in fiber guard pages and prints "fiber stack overflow" before the
// process dies; other faults go to the previous handler unchanged.
void install_stack_overflow_handler();

}  // namespace ttap::simt::detail
