// The sparse histogram BLOB (runtime/store/histogram_blob.*): exact round trips, the byte layout
// SCHEMA.md documents, its size on realistic histograms, and refusal of malformed input.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "runtime/store/histogram_blob.h"

namespace ttap {
namespace {

exp_histogram round_trip(const exp_histogram &h, size_t *bytes = nullptr) {
  std::vector<uint8_t> blob;
  encode_histogram(h.data(), &blob);
  if (bytes) *bytes = blob.size();
  std::optional<exp_histogram> back = decode_histogram(blob);
  EXPECT_TRUE(back.has_value());
  return back.value_or(exp_histogram{});
}

int bin(int e) { return e - kExpHistMin; }

TEST(HistogramBlob, EmptyHistogramIsTheFormatByteAlone) {
  exp_histogram h{};
  std::vector<uint8_t> blob;
  encode_histogram(h.data(), &blob);
  EXPECT_EQ(blob, std::vector<uint8_t>{kHistBlobFormat});
  EXPECT_EQ(round_trip(h), h);
  // SQL NULL or a zero-length BLOB reads as all zeros too.
  std::optional<exp_histogram> none = decode_histogram({});
  ASSERT_TRUE(none.has_value());
  EXPECT_EQ(*none, h);
}

// The layout SCHEMA.md spells out: format byte, then runs of (gap, length, LEB128 counts), where
// gap counts bins from the end of the previous run; single empty bins stay inside a run.
TEST(HistogramBlob, ByteLayoutMatchesTheDocumentedFormat) {
  exp_histogram h{};
  h[bin(-3)] = 1;
  h[bin(-2)] = 300;  // LEB128: 0xac 0x02
  h[bin(0)] = 5;     // one empty bin (-1) between: stays in the run as a 0
  h[bin(10)] = 2;    // a new run, 9 empty bins after the previous run's end (bin 1)
  std::vector<uint8_t> blob;
  encode_histogram(h.data(), &blob);
  std::vector<uint8_t> want = {kHistBlobFormat, uint8_t(bin(-3)), 4, 1, 0xac, 0x02, 0, 5, 9, 1, 2};
  EXPECT_EQ(blob, want);
  EXPECT_EQ(round_trip(h), h);
}

// The store keeps its pending rows' histograms back to back in one buffer: each appended encoding
// is the same bytes encode_histogram writes, and the earlier ones are left as they were.
TEST(HistogramBlob, AppendedEncodingsLieBackToBack) {
  exp_histogram first{}, second{};
  first[bin(-3)] = 7;
  second[bin(-20)] = 1;
  second[bin(5)] = 100000;
  std::vector<uint8_t> alone_first, alone_second, shared;
  encode_histogram(first.data(), &alone_first);
  encode_histogram(second.data(), &alone_second);
  EXPECT_EQ(append_histogram(first.data(), &shared), alone_first.size());
  EXPECT_EQ(append_histogram(second.data(), &shared), alone_second.size());
  ASSERT_EQ(shared.size(), alone_first.size() + alone_second.size());
  EXPECT_EQ(std::vector<uint8_t>(shared.begin(), shared.begin() + alone_first.size()), alone_first);
  std::optional<exp_histogram> back =
      decode_histogram(std::span<const uint8_t>(shared).subspan(alone_first.size()));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, second);
}

TEST(HistogramBlob, ExtremesRoundTrip) {
  exp_histogram h{};
  h[0] = 1;                          // bin -127: everything below 2^-126
  h[kExpHistBins - 1] = UINT64_MAX;  // bin 127, largest count (10-byte LEB128)
  EXPECT_EQ(round_trip(h), h);
  exp_histogram full;
  for (int i = 0; i < kExpHistBins; ++i) full[i] = uint64_t(1) << (i % 64);
  size_t bytes = 0;
  EXPECT_EQ(round_trip(full, &bytes), full);
  EXPECT_LE(bytes, size_t(1 + 2 + kExpHistBins * 10));  // one run of every bin
}

TEST(HistogramBlob, RandomSparseHistogramsRoundTrip) {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 2000; ++trial) {
    exp_histogram h{};
    int nonzero = int(rng() % 60);
    for (int k = 0; k < nonzero; ++k) {
      int shift = int(rng() % 64);
      h[rng() % kExpHistBins] = (rng() >> shift) | 1;
    }
    ASSERT_EQ(round_trip(h), h) << "trial " << trial;
  }
}

// A bell-shaped histogram of a 4M-element tensor with 30 nonzero bins: the BLOB must stay far below
// the 2 KiB of the dense array, about 2-3 bytes per bin.
TEST(HistogramBlob, RealisticHistogramIsCompact) {
  exp_histogram h{};
  const double n = 4.0 * (1 << 20);
  for (int e = -33; e <= -4; ++e) {  // 30 bins, N(0, 2^-6)-like
    double z = std::ldexp(1.0, e) / std::ldexp(1.0, -6);
    h[bin(e)] = uint64_t(n * 0.8 * z * std::exp(-0.5 * z * z)) + 1;
  }
  size_t bytes = 0;
  EXPECT_EQ(round_trip(h, &bytes), h);
  EXPECT_LE(bytes, size_t(1 + 2 + 30 * 3));
  std::printf("30-bin histogram of %.0f values: %zu bytes\n", n, bytes);
}

TEST(HistogramBlob, MalformedBlobsAreRefused) {
  auto refused = [](std::vector<uint8_t> blob) { return !decode_histogram(blob).has_value(); };
  EXPECT_TRUE(refused({2, 0, 1, 1}));                                 // unknown format
  EXPECT_TRUE(refused({kHistBlobFormat, 0}));                         // run header cut short
  EXPECT_TRUE(refused({kHistBlobFormat, 0, 0}));                      // empty run
  EXPECT_TRUE(refused({kHistBlobFormat, 250, 6, 1, 1, 1, 1, 1, 1}));  // past bin 127
  EXPECT_TRUE(refused({kHistBlobFormat, 0, 2, 1}));                   // second count missing
  EXPECT_TRUE(refused({kHistBlobFormat, 0, 1, 0x80}));                // varint cut short
  EXPECT_TRUE(refused({kHistBlobFormat, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                       0x02}));                                   // more than 64 bits
  EXPECT_TRUE(refused({kHistBlobFormat, 200, 1, 1, 100, 1, 1}));  // second run past the end
  EXPECT_FALSE(refused({kHistBlobFormat, 254, 1, 1}));            // bin 127 alone is fine
}

}  // namespace
}  // namespace ttap
