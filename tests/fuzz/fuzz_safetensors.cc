// libFuzzer harness: the .safetensors reader on arbitrary bytes (header length, JSON header,
// dtypes, shapes, offsets, overlaps). Run through scripts/run-fuzz.sh.
#include "tests/fuzz/fuzz_tensor_files.h"
#include "tools/formats/safetensors_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const std::span<const std::byte> file(reinterpret_cast<const std::byte *>(data), size);
  ttap::fuzz::fuzz_tensor_file(
      [&] { return ttap::formats::read_safetensors(file, "fuzz.safetensors"); });
  return 0;
}
