// Element types tensortap reads, and exact decoding of their bits, shared by host and device code.
// Every narrow type (fp16, bf16, fp8) converts exactly to fp32, so all executors classify and bin
// values from the fp32 exponent field; fp64 keeps its own path.
#pragma once

#include <stdint.h>
#include <string.h>

#if defined(__CUDACC__)
#define TTAP_HD __host__ __device__
#else
#define TTAP_HD
#endif

namespace ttap {

// Values match ttap_dtype in the public C API.
enum class dtype : uint8_t { f32 = 0, f16 = 1, bf16 = 2, f8e4m3 = 3, f8e5m2 = 4, f64 = 5 };
inline constexpr int kNumDtypes = 6;

TTAP_HD inline constexpr int dtype_size(dtype t) {
  switch (t) {
    case dtype::f32:
      return 4;
    case dtype::f16:
      return 2;
    case dtype::bf16:
      return 2;
    case dtype::f8e4m3:
      return 1;
    case dtype::f8e5m2:
      return 1;
    case dtype::f64:
      return 8;
  }
  return 0;
}

TTAP_HD inline constexpr bool dtype_is_valid(int t) { return t >= 0 && t < kNumDtypes; }

// The one dtype name table: the name every output uses (the safetensors spelling, so a table, a
// JSON report, the store and a safetensors header agree) and the --dtype spelling of the CLI. The
// runtime, the tools and the tests all name dtypes through it (tools/formats parses options by it).
struct dtype_names {
  dtype type;
  const char *name;    // "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2", "F64"
  const char *option;  // "f32", "f16", "bf16", "f8e4m3", "f8e5m2", "f64"
};
inline constexpr dtype_names kDtypeNames[kNumDtypes] = {
    {dtype::f32, "F32", "f32"},           {dtype::f16, "F16", "f16"},
    {dtype::bf16, "BF16", "bf16"},        {dtype::f8e4m3, "F8_E4M3", "f8e4m3"},
    {dtype::f8e5m2, "F8_E5M2", "f8e5m2"}, {dtype::f64, "F64", "f64"},
};

// The table's row of `t` (rows are in dtype order); "?" names for a value out of range.
inline constexpr dtype_names dtype_names_of(dtype t) {
  return dtype_is_valid(int(t)) ? kDtypeNames[int(t)] : dtype_names{t, "?", "?"};
}
inline constexpr const char *dtype_name(dtype t) { return dtype_names_of(t).name; }
inline constexpr const char *dtype_option_name(dtype t) { return dtype_names_of(t).option; }
static_assert([] {
  for (int i = 0; i < kNumDtypes; ++i)
    if (int(kDtypeNames[i].type) != i) return false;
  return true;
}());

// fp32 and fp64 bit fields: the magnitude (all but the sign) and the exponent field, whose all-ones
// value is also the bit pattern of +Inf (a magnitude above it is a NaN).
inline constexpr uint32_t kF32MagnitudeMask = 0x7fffffffu;
inline constexpr uint32_t kF32ExponentMask = 0x7f800000u;
inline constexpr uint32_t kF32MantissaMask = 0x007fffffu;
inline constexpr uint64_t kF64MagnitudeMask = 0x7fffffffffffffffull;
inline constexpr uint64_t kF64ExponentMask = 0x7ff0000000000000ull;
inline constexpr uint64_t kF64MantissaMask = 0x000fffffffffffffull;

TTAP_HD inline float float_from_bits(uint32_t bits) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(bits);
#else
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
#endif
}

TTAP_HD inline uint32_t bits_from_float(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t bits;
  memcpy(&bits, &f, sizeof bits);
  return bits;
#endif
}

// bf16 is the upper half of an fp32: widening is a shift.
TTAP_HD inline uint32_t f32_bits_from_bf16(uint16_t h) { return uint32_t(h) << 16; }

// Two bf16 packed in a 32-bit word as memory holds them (the first in the low half): a shift and a
// mask, no unpacking.
TTAP_HD inline void f32_bits_from_bf16x2(uint32_t w, uint32_t &first, uint32_t &second) {
  first = w << 16;
  second = w & 0xffff0000u;
}

// fp16 → fp32 bits, exact, subnormals normalized, Inf/NaN preserved (NaN payload kept in the top
// bits).
TTAP_HD inline uint32_t f32_bits_from_f16(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0x1fu) return sign | kF32ExponentMask | (mant << 13);
  if (exp != 0) return sign | ((exp + 112u) << 23) | (mant << 13);
  if (mant == 0) return sign;
  // Subnormal: value = mant * 2^-24; shift the leading one into the implicit position.
  int shift = 0;
  while ((mant & 0x400u) == 0) {
    mant <<= 1;
    ++shift;
  }
  return sign | (uint32_t(113 - shift) << 23) | ((mant & 0x3ffu) << 13);
}

// fp8 e5m2 is the upper byte of an fp16.
TTAP_HD inline uint32_t f32_bits_from_e5m2(uint8_t b) {
  return f32_bits_from_f16(uint16_t(b) << 8);
}

// fp8 e4m3 "fn" (OCP): bias 7, no infinities, S.1111.111 is NaN, max 448.
TTAP_HD inline uint32_t f32_bits_from_e4m3(uint8_t b) {
  uint32_t sign = uint32_t(b & 0x80u) << 24;
  uint32_t exp = (b >> 3) & 0xfu;
  uint32_t mant = b & 0x7u;
  if (exp == 0xfu && mant == 0x7u) return sign | 0x7fc00000u;
  if (exp != 0) return sign | ((exp + 120u) << 23) | (mant << 20);
  if (mant == 0) return sign;
  int shift = 0;  // subnormal: value = mant * 2^-9
  while ((mant & 0x8u) == 0) {
    mant <<= 1;
    ++shift;
  }
  return sign | (uint32_t(121 - shift) << 23) | ((mant & 0x7u) << 20);
}

// Whether raw bits of the given narrow dtype encode a subnormal of that dtype.
TTAP_HD inline bool is_subnormal_bits(dtype t, uint64_t bits) {
  switch (t) {
    case dtype::f32:
      return (bits & kF32ExponentMask) == 0 && (bits & kF32MantissaMask) != 0;
    case dtype::f16:
      return (bits & 0x7c00u) == 0 && (bits & 0x3ffu) != 0;
    case dtype::bf16:
      return (bits & 0x7f80u) == 0 && (bits & 0x7fu) != 0;
    case dtype::f8e4m3:
      return (bits & 0x78u) == 0 && (bits & 0x7u) != 0;
    case dtype::f8e5m2:
      return (bits & 0x7cu) == 0 && (bits & 0x3u) != 0;
    case dtype::f64:
      return (bits & kF64ExponentMask) == 0 && (bits & kF64MantissaMask) != 0;
  }
  return false;
}

// Loads element i of a (possibly misaligned) array as raw bits, zero-extended.
TTAP_HD inline uint64_t load_bits(const void *base, dtype t, uint64_t i) {
  const unsigned char *p = static_cast<const unsigned char *>(base);
  switch (t) {
    case dtype::f8e4m3:
    case dtype::f8e5m2:
      return p[i];
    case dtype::f16:
    case dtype::bf16: {
      uint16_t v;
      memcpy(&v, p + 2 * i, 2);
      return v;
    }
    case dtype::f32: {
      uint32_t v;
      memcpy(&v, p + 4 * i, 4);
      return v;
    }
    case dtype::f64: {
      uint64_t v;
      memcpy(&v, p + 8 * i, 8);
      return v;
    }
  }
  return 0;
}

// fp32 bits of a narrow element (not for f64).
TTAP_HD inline uint32_t f32_bits_from_narrow(dtype t, uint64_t bits) {
  switch (t) {
    case dtype::f32:
      return uint32_t(bits);
    case dtype::f16:
      return f32_bits_from_f16(uint16_t(bits));
    case dtype::bf16:
      return f32_bits_from_bf16(uint16_t(bits));
    case dtype::f8e4m3:
      return f32_bits_from_e4m3(uint8_t(bits));
    case dtype::f8e5m2:
      return f32_bits_from_e5m2(uint8_t(bits));
    case dtype::f64:
      break;
  }
  return 0;
}

}  // namespace ttap
