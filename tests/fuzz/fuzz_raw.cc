// libFuzzer harness: the raw reader. The first 17 bytes choose the options (dtype, offset, count,
// whether a count is given) the way `ttap stats --dtype --offset --count` would; the rest is the
// file. Run through scripts/run-fuzz.sh.
#include <cstring>

#include "tests/fuzz/fuzz_tensor_files.h"
#include "tools/formats/raw_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 17) return 0;
  ttap::formats::raw_options options;
  options.type = static_cast<ttap::dtype>(data[0] % ttap::kNumDtypes);
  std::memcpy(&options.offset, data + 1, 8);
  uint64_t count;
  std::memcpy(&count, data + 9, 8);
  // Small offsets and counts are the interesting ones; keep some huge ones too.
  if (data[0] & 0x80) options.offset %= 64;
  if (data[0] & 0x40) options.count = (data[0] & 0x20) ? count % 1024 : count;
  const std::span<const std::byte> file(reinterpret_cast<const std::byte *>(data + 17), size - 17);
  ttap::fuzz::fuzz_tensor_file([&] { return ttap::formats::read_raw(file, "fuzz.bin", options); });
  return 0;
}
