// libFuzzer harness: the .npy reader on arbitrary bytes (header dict parser, versions, shapes,
// data bounds). Run through scripts/run-fuzz.sh.
#include "tests/fuzz/fuzz_tensor_files.h"
#include "tools/formats/npy_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const std::span<const std::byte> file(reinterpret_cast<const std::byte *>(data), size);
  ttap::fuzz::fuzz_tensor_file([&] { return ttap::formats::read_npy(file, "fuzz.npy"); });
  return 0;
}
