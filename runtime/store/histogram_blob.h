// The sparse exponent-histogram BLOB of the store's samples table (`samples.hist`, format in
// SCHEMA.md): runs of nonzero bins, each a (gap, length) byte pair followed by LEB128 counts. A
// realistic histogram of 20-40 nonzero bins takes 50-110 bytes instead of 255 x 8.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "kernels/summary.h"

namespace ttap {

// An exponent histogram as summary.exp_hist holds it: index = e - kExpHistMin.
using exp_histogram = std::array<uint64_t, kExpHistBins>;

// First byte of every encoded histogram; a reader refuses any other value.
inline constexpr uint8_t kHistBlobFormat = 1;

// Replaces *out with the encoding of `hist` (kExpHistBins counts). Never fails; at most
// 1 + 255 * 12 bytes, typically 2.5 bytes per nonzero bin.
void encode_histogram(const uint64_t *hist, std::vector<uint8_t> *out);
// Appends the same encoding to *out and returns its length: the store keeps many rows' histograms
// in one buffer.
size_t append_histogram(const uint64_t *hist, std::vector<uint8_t> *out);

// Decodes a BLOB written by encode_histogram. An empty BLOB (or SQL NULL, passed as an empty span)
// is an all-zero histogram. Returns nullopt for anything malformed: an unknown format byte, a run
// past bin 127, an empty run, a truncated or overlong count.
std::optional<exp_histogram> decode_histogram(std::span<const uint8_t> blob);

}  // namespace ttap
