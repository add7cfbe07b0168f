// The C API: handle validation in O(1), per-session serialization, enum arguments checked as
// integers, and no exception ever crossing into the caller. A handle is an encoded (slot,
// generation) pair, never a pointer: ttap_close frees the session and retires the generation, so a
// stale handle is recognized as closed even after its slot holds a new session.
#include <atomic>
#include <climits>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <vector>

#include "runtime/errors.h"
#include "runtime/log.h"
#include "runtime/record.h"
#include "runtime/session.h"
#include "ttap/ttap.h"

// The public enums are the ABI of the internal ones: the values must agree one for one.
static_assert(int(TTAP_F32) == int(ttap::dtype::f32) && int(TTAP_F16) == int(ttap::dtype::f16) &&
              int(TTAP_BF16) == int(ttap::dtype::bf16) &&
              int(TTAP_F8_E4M3) == int(ttap::dtype::f8e4m3) &&
              int(TTAP_F8_E5M2) == int(ttap::dtype::f8e5m2) &&
              int(TTAP_F64) == int(ttap::dtype::f64) && int(TTAP_NUM_DTYPES) == ttap::kNumDtypes);
static_assert(int(TTAP_GRAD) == int(ttap::tensor_kind::grad) &&
              int(TTAP_PARAM) == int(ttap::tensor_kind::param) &&
              int(TTAP_ACTIVATION) == int(ttap::tensor_kind::activation) &&
              int(TTAP_OTHER) == int(ttap::tensor_kind::other) &&
              int(TTAP_COLLECTIVE) == int(ttap::tensor_kind::collective) &&
              int(TTAP_NUM_KINDS) == 5);
static_assert(sizeof(ttap_dtype) == sizeof(int32_t) && sizeof(ttap_kind) == sizeof(int32_t) &&
              sizeof(ttap_status) == sizeof(int32_t));
// The handle packs 32 bits of slot and 32 of generation.
static_assert(sizeof(void *) == sizeof(uint64_t), "tensortap handles need 64-bit pointers");

namespace {

// The integer a C caller passed for an enum parameter, read from its bytes: converting an
// out-of-range value to the enum type is undefined in C++, so no enum value is formed before the
// range check.
template <class Enum>
int32_t enum_bits(const Enum &value) {
  int32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

// One place a session can live in. Slots are never freed (a few dozen bytes each, as many as
// sessions were open at once); the session inside is.
struct session_slot {
  std::mutex mutex;  // serializes calls on the session
  // Odd while a session lives here; bumped at open and at close, so a handle's generation matches
  // only while its own session is open.
  std::atomic<uint32_t> generation{0};
  std::unique_ptr<ttap::session> impl;
};

// Slots in chunks that are allocated once and never move, so a handle is checked with two loads
// and no lock: 4096 chunks of 256 slots, about a million sessions open at once.
constexpr uint32_t kSlotsPerChunk = 256;
constexpr uint32_t kMaxChunks = 4096;
std::atomic<session_slot *> g_chunks[kMaxChunks];
std::mutex g_table_mutex;      // guards the free list and the high-water mark
std::vector<uint32_t> g_free;  // slots whose session was closed
uint32_t g_slots_used = 0;     // slots ever handed out

ttap_session *encode(uint32_t index, uint32_t generation) {
  return reinterpret_cast<ttap_session *>((uint64_t(generation) << 32) | (uint64_t(index) + 1));
}

session_slot *slot_at(uint32_t index) {
  session_slot *chunk = g_chunks[index / kSlotsPerChunk].load(std::memory_order_acquire);
  return chunk ? &chunk[index % kSlotsPerChunk] : nullptr;
}

// The slot behind a handle and the generation it names, or null with the message recorded.
session_slot *find_slot(const ttap_session *s, uint32_t *generation, ttap_status *st) {
  const uint64_t bits = reinterpret_cast<uint64_t>(s);
  const uint64_t low = bits & 0xffffffffu;
  *generation = uint32_t(bits >> 32);
  session_slot *slot = low >= 1 && low <= uint64_t(kMaxChunks) * kSlotsPerChunk
                           ? slot_at(uint32_t(low - 1))
                           : nullptr;
  const uint32_t now = slot ? slot->generation.load(std::memory_order_acquire) : 0;
  if (!slot || *generation % 2 == 0 || *generation > now) {
    *st = ttap::fail(TTAP_ERR_INVALID_ARGUMENT, "not a session handle from ttap_open");
    return nullptr;
  }
  return slot;
}

// Runs `body` on the live session behind `s`, with the session's lock held; turns every failure
// (bad handle, closed session, an exception from inside) into a status with a message.
template <class Body>
ttap_status with_session(ttap_session *s, Body &&body) {
  if (!s) return ttap::fail(TTAP_ERR_INVALID_ARGUMENT, "session is NULL");
  uint32_t generation;
  ttap_status st;
  session_slot *slot = find_slot(s, &generation, &st);
  if (!slot) return st;
  try {
    std::lock_guard<std::mutex> lock(slot->mutex);
    if (slot->generation.load(std::memory_order_relaxed) != generation || !slot->impl)
      return ttap::fail(TTAP_ERR_INVALID_ARGUMENT, "session already closed");
    return body(*slot, *slot->impl);
  } catch (const std::bad_alloc &) {
    return ttap::fail(TTAP_ERR_INTERNAL, "out of memory");
  } catch (const std::exception &e) {
    ttap::warn_once("api-exception", "internal error: %s", e.what());
    return ttap::fail(TTAP_ERR_INTERNAL, std::string("internal error: ") + e.what());
  } catch (...) {
    return ttap::fail(TTAP_ERR_INTERNAL, "internal error");
  }
}

// A free slot for a new session (allocating a chunk when every slot is taken), or null when a
// million sessions are open.
session_slot *take_slot(uint32_t *index) {
  std::lock_guard<std::mutex> lock(g_table_mutex);
  if (!g_free.empty()) {
    *index = g_free.back();
    g_free.pop_back();
    return slot_at(*index);
  }
  if (g_slots_used == kMaxChunks * kSlotsPerChunk) return nullptr;
  *index = g_slots_used;
  std::atomic<session_slot *> &chunk = g_chunks[*index / kSlotsPerChunk];
  if (!chunk.load(std::memory_order_relaxed))
    chunk.store(new session_slot[kSlotsPerChunk], std::memory_order_release);
  ++g_slots_used;
  return slot_at(*index);
}

void return_slot(uint32_t index) {
  std::lock_guard<std::mutex> lock(g_table_mutex);
  g_free.push_back(index);
}

}  // namespace

extern "C" {

ttap_status ttap_get_version(int *version) {
  if (!version) return ttap::fail(TTAP_ERR_INVALID_ARGUMENT, "version is NULL");
  *version = TTAP_VERSION_CODE;
  return TTAP_OK;
}

ttap_status ttap_open(const char *run_dir, const char *options, ttap_session **out) {
  if (!out) return ttap::fail(TTAP_ERR_INVALID_ARGUMENT, "out is NULL");
  *out = nullptr;
  try {
    std::unique_ptr<ttap::session> impl;
    TTAP_CHECK(ttap::session::open(run_dir, options, &impl));
    uint32_t index;
    session_slot *slot = take_slot(&index);
    if (!slot)
      return ttap::fail(TTAP_ERR_UNSUPPORTED, "too many sessions open at once in this process");
    std::lock_guard<std::mutex> lock(slot->mutex);
    slot->impl = std::move(impl);
    const uint32_t generation = slot->generation.load(std::memory_order_relaxed) + 1;
    slot->generation.store(generation, std::memory_order_release);
    *out = encode(index, generation);
    return TTAP_OK;
  } catch (const std::bad_alloc &) {
    return ttap::fail(TTAP_ERR_INTERNAL, "out of memory");
  } catch (const std::exception &e) {
    return ttap::fail(TTAP_ERR_INTERNAL, std::string("internal error: ") + e.what());
  }
}

ttap_status ttap_watch(ttap_session *s, const char *name, const void *ptr, ttap_dtype dtype,
                       uint64_t numel, ttap_kind kind, int32_t *handle) {
  return with_session(s, [&](session_slot &, ttap::session &x) {
    return x.watch(name, ptr, enum_bits(dtype), numel, enum_bits(kind), handle);
  });
}

ttap_status ttap_watch_shaped(ttap_session *s, const char *name, const void *ptr, ttap_dtype dtype,
                              const uint64_t *shape, int32_t ndim, ttap_kind kind,
                              int32_t *handle) {
  // shape is read only when ndim is in range: a bad ndim is refused by watch, and the caller's
  // array may be shorter than the ndim it claims (ASan caught a read past a 3-element shape).
  uint64_t numel = 1;
  if (shape && ndim >= 0 && ndim <= 8)
    for (int32_t d = 0; d < ndim; ++d) numel *= shape[d];  // the product is checked by watch
  return with_session(s, [&](session_slot &, ttap::session &x) {
    return x.watch(name, ptr, enum_bits(dtype), numel, enum_bits(kind), handle, shape, ndim);
  });
}

ttap_status ttap_rebind(ttap_session *s, int32_t handle, const void *ptr) {
  return with_session(s, [&](session_slot &, ttap::session &x) { return x.rebind(handle, ptr); });
}

ttap_status ttap_unwatch(ttap_session *s, int32_t handle) {
  return with_session(s, [&](session_slot &, ttap::session &x) { return x.unwatch(handle); });
}

ttap_status ttap_set_role(ttap_session *s, int32_t handle, ttap_role role) {
  return with_session(
      s, [&](session_slot &, ttap::session &x) { return x.set_role(handle, enum_bits(role)); });
}

ttap_status ttap_step(ttap_session *s, int64_t step, void *stream) {
  return with_session(s, [&](session_slot &, ttap::session &x) { return x.step(step, stream); });
}

ttap_status ttap_observe(ttap_session *s, const char *name, const void *ptr, ttap_dtype dtype,
                         uint64_t numel, ttap_kind kind, int64_t step, void *stream) {
  return with_session(s, [&](session_slot &, ttap::session &x) {
    return x.observe(name, ptr, enum_bits(dtype), numel, enum_bits(kind), step, stream);
  });
}

ttap_status ttap_log_scalar(ttap_session *s, const char *name, double value, int64_t step) {
  return with_session(
      s, [&](session_slot &, ttap::session &x) { return x.log_scalar(name, value, step); });
}

ttap_status ttap_set_group(ttap_session *s, const char *kind, void *comm) {
  return with_session(s, [&](session_slot &, ttap::session &x) { return x.set_group(kind, comm); });
}

ttap_status ttap_verdict(ttap_session *s, int64_t step, ttap_verdict_t *out) {
  return with_session(s, [&](session_slot &, ttap::session &x) { return x.verdict(step, out); });
}

ttap_status ttap_next_alert(ttap_session *s, ttap_alert_t *out, int32_t *has_alert) {
  return with_session(
      s, [&](session_slot &, ttap::session &x) { return x.next_alert(out, has_alert); });
}

ttap_status ttap_flush(ttap_session *s) {
  return with_session(s, [&](session_slot &, ttap::session &x) { return x.flush(); });
}

ttap_status ttap_get_run_dir(ttap_session *s, char *buf, size_t len, size_t *length) {
  return with_session(s, [&](session_slot &, ttap::session &x) {
    if (!length) return ttap::fail(TTAP_ERR_INVALID_ARGUMENT, "ttap_get_run_dir: length is NULL");
    if (!buf && len > 0)
      return ttap::fail(TTAP_ERR_INVALID_ARGUMENT, "ttap_get_run_dir: buf is NULL, len is not 0");
    const std::string &dir = x.run_dir();
    *length = dir.size();
    if (len == 0) return TTAP_OK;  // asks for the length only
    if (len <= dir.size()) {
      buf[0] = '\0';
      return ttap::fail(TTAP_ERR_INVALID_ARGUMENT,
                        "ttap_get_run_dir: a buffer of " + std::to_string(len) +
                            " bytes is too small for the run directory (" +
                            std::to_string(dir.size() + 1) + " bytes with its NUL)");
    }
    std::memcpy(buf, dir.c_str(), dir.size() + 1);
    return TTAP_OK;
  });
}

ttap_status ttap_close(ttap_session *s) {
  uint32_t index = uint32_t((reinterpret_cast<uint64_t>(s) & 0xffffffffu) - 1);
  bool closed = false;
  ttap_status st = with_session(s, [&](session_slot &slot, ttap::session &x) {
    ttap_status result = x.close();
    slot.impl.reset();
    // Retires this handle: from here on its generation is older than the slot's.
    slot.generation.fetch_add(1, std::memory_order_release);
    closed = true;
    return result;
  });
  if (closed) return_slot(index);
  return st;
}

const char *ttap_status_string(ttap_status st) {
  switch (enum_bits(st)) {
    case TTAP_OK:
      return "ok";
    case TTAP_ERR_INVALID_ARGUMENT:
      return "invalid argument";
    case TTAP_ERR_UNSUPPORTED:
      return "unsupported";
    case TTAP_ERR_NO_DEVICE:
      return "no device";
    case TTAP_ERR_IO:
      return "I/O error";
    case TTAP_ERR_CUDA:
      return "CUDA error";
    case TTAP_ERR_INTERNAL:
      return "internal error";
    default:
      break;
  }
  return "unknown status";
}

const char *ttap_last_error(void) { return ttap::last_error_message(); }

}  // extern "C"
