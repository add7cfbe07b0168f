// Tests of the .npy reader: versions 1.0/2.0/3.0 and the accepted descrs give the right views, and
// every malformed or unsupported header is refused with a message that says what and why.
#include <gtest/gtest.h>

#include "tests/tools/test_files.h"
#include "tools/formats/mapped_file.h"
#include "tools/formats/npy_reader.h"

namespace ttap::formats {
namespace {

using test::npy_file;
using test::temp_dir;

std::string dict(const std::string &descr, const std::string &shape, bool fortran = false) {
  return "{'descr': " + descr + ", 'fortran_order': " + (fortran ? "True" : "False") +
         ", 'shape': " + shape + ", }";
}

// Reads `bytes` as x.npy; returns the tensor list, or the error message in `error`.
tensor_list read(const temp_dir &dir, const std::string &bytes, std::string *error,
                 mapped_file *keep = nullptr) {
  mapped_file map(dir.write("x.npy", bytes));
  try {
    tensor_list list = read_npy(map.bytes(), map.path());
    if (keep) *keep = std::move(map);
    return list;
  } catch (const file_error &e) {
    *error = e.what();
    return {};
  }
}

std::string error_for(const std::string &bytes) {
  temp_dir dir;
  std::string error;
  read(dir, bytes, &error);
  EXPECT_NE(error.find("x.npy: "), std::string::npos) << "error must name the file: " << error;
  return error;
}

TEST(NpyReader, Version1F4) {
  temp_dir dir;
  std::vector<float> values(12, 1.5f);
  std::string bytes = npy_file(1, dict("'<f4'", "(3, 4)"), test::bytes_of(values));
  mapped_file map;
  std::string error;
  tensor_list list = read(dir, bytes, &error, &map);
  ASSERT_EQ(error, "");
  ASSERT_EQ(list.tensors.size(), 1u);
  const tensor_entry &t = list.tensors[0];
  EXPECT_EQ(t.name, "x.npy");
  EXPECT_EQ(t.view.type, dtype::f32);
  EXPECT_EQ(t.view.numel, 12u);
  EXPECT_EQ(t.shape, (std::vector<uint64_t>{3, 4}));
  // The data follows the header, which numpy (and npy_file) pads to a multiple of 64 bytes.
  EXPECT_EQ(t.file_offset, 128u);
  EXPECT_EQ(t.file_offset, bytes.size() - 48);
  EXPECT_EQ(static_cast<const std::byte *>(t.view.data), map.data() + 128);
  float first;
  std::memcpy(&first, t.view.data, 4);
  EXPECT_EQ(first, 1.5f);
}

TEST(NpyReader, Versions2And3AndEveryFloatDescr) {
  struct descr_case {
    int major;
    const char *descr;
    dtype type;
    int size;
  } cases[] = {{2, "'<f2'", dtype::f16, 2},
               {3, "'<f8'", dtype::f64, 8},
               {2, "'<f4'", dtype::f32, 4},
               {1, "\"=f4\"", dtype::f32, 4}};
  for (const auto &c : cases) {
    temp_dir dir;
    mapped_file map;
    std::string error;
    std::string bytes = npy_file(c.major, dict(c.descr, "(5,)"), std::string(5 * c.size, 'a'));
    tensor_list list = read(dir, bytes, &error, &map);
    ASSERT_EQ(error, "") << c.descr;
    ASSERT_EQ(list.tensors.size(), 1u);
    EXPECT_EQ(list.tensors[0].view.type, c.type) << c.descr;
    EXPECT_EQ(list.tensors[0].view.numel, 5u);
    // v2/v3 have a 4-byte header length, v1 a 2-byte one: the data starts right after the header.
    EXPECT_EQ(static_cast<const std::byte *>(list.tensors[0].view.data),
              map.data() + bytes.size() - 5 * c.size);
  }
}

TEST(NpyReader, ScalarEmptyFortranLongSuffixAndTrailingBytes) {
  temp_dir dir;
  std::string error;
  // 0-d array: one element.
  auto list = read(dir, npy_file(1, dict("'<f8'", "()"), std::string(8, '\0')), &error);
  ASSERT_EQ(error, "");
  EXPECT_EQ(list.tensors[0].view.numel, 1u);
  EXPECT_TRUE(list.tensors[0].shape.empty());
  // Zero-size array with a huge other dimension: 0 elements, no overflow.
  list = read(dir, npy_file(1, dict("'<f4'", "(0, 18446744073709551615)"), ""), &error);
  ASSERT_EQ(error, "");
  EXPECT_EQ(list.tensors[0].view.numel, 0u);
  // Fortran order is accepted: statistics ignore element order.
  list = read(dir, npy_file(1, dict("'<f4'", "(2, 2)", true), std::string(16, '\0')), &error);
  ASSERT_EQ(error, "");
  EXPECT_EQ(list.tensors[0].view.numel, 4u);
  // Python 2 long suffix, double quotes, keys in another order, and bytes after the array.
  list = read(dir,
              npy_file(1, "{\"shape\": (2L, 3L), \"fortran_order\": False, \"descr\": \"<f2\"}",
                       std::string(12 + 7, '\0')),
              &error);
  ASSERT_EQ(error, "");
  EXPECT_EQ(list.tensors[0].view.numel, 6u);
  EXPECT_EQ(list.tensors[0].view.type, dtype::f16);
}

TEST(NpyReader, BadMagic) {
  std::string msg = error_for("\x93NUMPX\x01\x00" + std::string(100, ' '));
  EXPECT_NE(msg.find("not a .npy file"), std::string::npos) << msg;
  msg = error_for("\x93NU");
  EXPECT_NE(msg.find("not a .npy file"), std::string::npos) << msg;
}

TEST(NpyReader, BadVersion) {
  std::string bytes = npy_file(1, dict("'<f4'", "(1,)"), std::string(4, '\0'));
  bytes[6] = 4;
  std::string msg = error_for(bytes);
  EXPECT_NE(msg.find("unsupported .npy format version 4.0 (supported: 1.0, 2.0, 3.0)"),
            std::string::npos)
      << msg;
  bytes[6] = 1;
  bytes[7] = 1;
  msg = error_for(bytes);
  EXPECT_NE(msg.find("version 1.1"), std::string::npos) << msg;
}

TEST(NpyReader, HeaderLengthPastEnd) {
  std::string bytes = std::string("\x93NUMPY\x01\x00", 8) + test::le_bytes(1000, 2) + "{}";
  std::string msg = error_for(bytes);
  EXPECT_NE(msg.find("header length 1000 runs past the end of the file (12 bytes)"),
            std::string::npos)
      << msg;
  msg = error_for(std::string("\x93NUMPY\x02\x00\x05", 9));
  EXPECT_NE(msg.find("ends inside the .npy header length"), std::string::npos) << msg;
}

TEST(NpyReader, RefusedDescrsSayWhatAndWhy) {
  struct refused {
    const char *descr;
    const char *expected;
  } cases[] = {
      {"'>f4'", "unsupported dtype '>f4', big-endian"},
      {"'<i4'", "unsupported dtype '<i4', signed integer"},
      {"'<u2'", "unsigned integer"},
      {"'|b1'", "unsupported dtype '|b1', boolean"},
      {"'<c8'", "complex"},
      {"'|O'", "Python object"},
      {"'<U10'", "string"},
      {"'<M8[ns]'", "datetime"},
      {"'<fx'", "invalid dtype descr"},
      {"'<f16'", "extended precision"},
      {"'<f3'", "only 2-, 4- and 8-byte floats"},
      {"'|f4'", "must say its byte order"},
      {"'<V2'", "raw bytes/void"},
      {"[('x', '<f4'), ('y', '<f4')]", "structured dtype"},
      {"3", "'descr' is not a string"},
  };
  for (const auto &c : cases) {
    std::string msg = error_for(npy_file(1, dict(c.descr, "(1,)"), std::string(16, '\0')));
    EXPECT_NE(msg.find(c.expected), std::string::npos) << c.descr << " -> " << msg;
  }
  // Void arrays (ml_dtypes bf16/fp8) get the data offset, for a raw read.
  std::string msg = error_for(npy_file(1, dict("'<V2'", "(1,)"), std::string(16, '\0')));
  EXPECT_NE(msg.find("the data starts at byte 128"), std::string::npos) << msg;
}

TEST(NpyReader, MissingAndIllTypedKeys) {
  std::string msg = error_for(npy_file(1, "{'descr': '<f4', 'fortran_order': False}", ""));
  EXPECT_NE(msg.find("has no 'shape' key"), std::string::npos) << msg;
  msg = error_for(npy_file(1, "{'shape': (1,), 'fortran_order': False}", ""));
  EXPECT_NE(msg.find("has no 'descr' key"), std::string::npos) << msg;
  msg = error_for(npy_file(1, "{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}", ""));
  EXPECT_NE(msg.find("'fortran_order' is not True or False"), std::string::npos) << msg;
  msg = error_for(npy_file(1, "{'descr': '<f4', 'fortran_order': False, 'shape': 3}", ""));
  EXPECT_NE(msg.find("'shape' is not a tuple"), std::string::npos) << msg;
  msg = error_for(npy_file(1, dict("'<f4'", "(1, 'a')"), ""));
  EXPECT_NE(msg.find("non-integer dimension"), std::string::npos) << msg;
  msg = error_for(npy_file(1, dict("'<f4'", "(-2,)"), ""));
  EXPECT_NE(msg.find("negative dimension"), std::string::npos) << msg;
  // numpy keeps the last of two equal keys; reading the first would give different data.
  msg = error_for(
      npy_file(1, "{'descr': '<f4', 'descr': '<f8', 'fortran_order': False, 'shape': (1,)}", ""));
  EXPECT_NE(msg.find("duplicate dict key 'descr'"), std::string::npos) << msg;
  msg = error_for(npy_file(1, "['descr']", ""));
  EXPECT_NE(msg.find("not a dict"), std::string::npos) << msg;
}

TEST(NpyReader, MalformedHeaderText) {
  std::string msg = error_for(npy_file(1, "{'descr': '<f4", ""));
  EXPECT_NE(msg.find("malformed .npy header: unterminated string"), std::string::npos) << msg;
  msg = error_for(npy_file(1, "{'descr' '<f4'}", ""));
  EXPECT_NE(msg.find("expected ':'"), std::string::npos) << msg;
  msg = error_for(npy_file(1, "{'descr': @}", ""));
  EXPECT_NE(msg.find("unexpected character '@'"), std::string::npos) << msg;
  msg = error_for(npy_file(1, "{'descr': '<f4'} extra", ""));
  EXPECT_NE(msg.find("unexpected text after the header dict"), std::string::npos) << msg;
  msg = error_for(npy_file(1, "{'a': " + std::string(100000, '(') + "}", ""));
  EXPECT_NE(msg.find("nests too deeply"), std::string::npos) << msg;
  msg = error_for(npy_file(1, std::string("{\x01}", 3), ""));
  EXPECT_NE(msg.find("byte 0x01"), std::string::npos) << msg;
}

TEST(NpyReader, HugeShapes) {
  std::string msg = error_for(npy_file(1, dict("'<f4'", "(1099511627776, 1099511627776)"), ""));
  EXPECT_NE(msg.find("has more bytes than fit in 64 bits"), std::string::npos) << msg;
  // Fits as elements, not as bytes.
  msg = error_for(npy_file(1, dict("'<f8'", "(4611686018427387904,)"), ""));
  EXPECT_NE(msg.find("has more bytes than fit in 64 bits"), std::string::npos) << msg;
  msg = error_for(npy_file(1, dict("'<f4'", "(99999999999999999999999,)"), ""));
  EXPECT_NE(msg.find("does not fit in 64 bits"), std::string::npos) << msg;
}

TEST(NpyReader, TruncatedData) {
  std::string msg = error_for(npy_file(1, dict("'<f4'", "(3, 4)"), std::string(40, '\0')));
  EXPECT_NE(msg.find("truncated: shape (3, 4) of '<f4' needs 48 bytes of data but the file has 40 "
                     "after the header"),
            std::string::npos)
      << msg;
}

}  // namespace
}  // namespace ttap::formats
