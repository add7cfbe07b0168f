// Encoder and decoder of the sparse histogram BLOB. Histograms of real tensors are bell-shaped runs
// of adjacent exponents, so runs with one gap byte beat (bin, count) pairs by a byte per bin.
#include "runtime/store/histogram_blob.h"

namespace ttap {

namespace {

// Writes v as LEB128 at p; returns the end.
uint8_t *put_varint(uint64_t v, uint8_t *p) {
  while (v >= 0x80) {
    *p++ = uint8_t(v) | 0x80;
    v >>= 7;
  }
  *p++ = uint8_t(v);
  return p;
}

// The longest BLOB: the format byte, and per bin a run header (2 bytes) and a 10-byte varint.
constexpr size_t kMaxBlobBytes = 1 + 12 * size_t(kExpHistBins);

// LEB128, at most 10 bytes; the tenth may only carry the top bit of a uint64.
bool get_varint(std::span<const uint8_t> blob, size_t &pos, uint64_t &v) {
  v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (pos >= blob.size()) return false;
    uint8_t b = blob[pos++];
    if (shift == 63 && b > 1) return false;
    v |= uint64_t(b & 0x7f) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

}  // namespace

void encode_histogram(const uint64_t *hist, std::vector<uint8_t> *out) {
  out->clear();
  append_histogram(hist, out);
}

size_t append_histogram(const uint64_t *hist, std::vector<uint8_t> *out) {
  // Written into a buffer on the stack and copied once: the collector encodes every record's
  // histogram, and growing the vector a byte at a time cost more than the scan.
  uint8_t blob[kMaxBlobBytes];
  uint8_t *p = blob;
  *p++ = kHistBlobFormat;
  int prev_end = 0;
  int i = 0;
  while (i < kExpHistBins) {
    // Most bins are empty: skipped four at a time.
    while (i + 4 <= kExpHistBins && (hist[i] | hist[i + 1] | hist[i + 2] | hist[i + 3]) == 0)
      i += 4;
    if (i == kExpHistBins) break;
    if (hist[i] == 0) {
      ++i;
      continue;
    }
    int start = i, end = i + 1;
    // A single empty bin inside a run costs one zero byte; a new run would cost two header bytes.
    while (end < kExpHistBins) {
      if (hist[end] != 0)
        ++end;
      else if (end + 1 < kExpHistBins && hist[end + 1] != 0)
        end += 2;
      else
        break;
    }
    *p++ = uint8_t(start - prev_end);  // < 255: bins are 0..254
    *p++ = uint8_t(end - start);       // 1..255
    for (int b = start; b < end; ++b) p = put_varint(hist[b], p);
    prev_end = i = end;
  }
  out->insert(out->end(), blob, p);
  return size_t(p - blob);
}

std::optional<exp_histogram> decode_histogram(std::span<const uint8_t> blob) {
  exp_histogram hist{};
  if (blob.empty()) return hist;
  if (blob[0] != kHistBlobFormat) return std::nullopt;
  size_t pos = 1;
  int bin = 0;
  while (pos < blob.size()) {
    if (blob.size() - pos < 2) return std::nullopt;
    bin += blob[pos];
    int length = blob[pos + 1];
    pos += 2;
    if (length == 0 || bin + length > kExpHistBins) return std::nullopt;
    for (int end = bin + length; bin < end; ++bin) {
      if (!get_varint(blob, pos, hist[bin])) return std::nullopt;
    }
  }
  return hist;
}

}  // namespace ttap
