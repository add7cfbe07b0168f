// The .npy reader. The header is a Python dict literal, so it gets a small recursive-descent parser
// for exactly the literals numpy writes (strings, ints, True/False/None, tuples, lists, dicts) with
// a depth limit: hostile headers must fail with a message, never overflow the stack.
#include "tools/formats/npy_reader.h"

#include <bit>
#include <cstring>
#include <optional>

#include "tools/formats/checked_math.h"

namespace ttap::formats {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the readers hand out views of little-endian file data as native values");

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;
constexpr int kMaxNesting = 16;  // numpy headers nest at most a few levels (structured dtypes)

struct py_field;

// A parsed Python literal. Integers keep their magnitude and sign apart so that every value that
// fits in 64 bits unsigned is exact and larger ones are flagged, not wrapped.
struct py_value {
  enum class kind { string, integer, boolean, none, tuple, list, dict } type = kind::none;
  std::string text;  // string
  uint64_t magnitude = 0;
  bool negative = false;
  bool too_large = false;       // integer beyond 64 bits
  bool flag = false;            // boolean
  std::vector<py_value> items;  // tuple, list
  // A struct, not std::pair<std::string, py_value>: pair's traits on a type still being defined
  // are rejected by clang with libstdc++ (the fuzz build).
  std::vector<py_field> fields;  // dict, in order
};

struct py_field {
  std::string key;
  py_value value;
};

// A header byte for an error message: itself when printable, else its hex code.
std::string printable_char(char c) {
  static const char kHex[] = "0123456789abcdef";
  unsigned char u = static_cast<unsigned char>(c);
  // Built by appending: GCC 12 warns (-Wrestrict, falsely) on "literal" + std::string temporaries.
  std::string out;
  if (u >= 0x20 && u < 0x7f) {
    out += '\'';
    out += c;
    out += '\'';
  } else {
    out += "byte 0x";
    out += kHex[u >> 4];
    out += kHex[u & 15];
  }
  return out;
}

class py_literal_parser {
 public:
  explicit py_literal_parser(std::string_view text) : m_text(text) {}

  // Parses the whole text as one literal followed only by whitespace; nullopt plus error() on
  // failure.
  std::optional<py_value> parse_document() {
    py_value v;
    if (!parse_value(v, 0)) return std::nullopt;
    skip_space();
    if (m_pos != m_text.size()) {
      fail("unexpected text after the header dict");
      return std::nullopt;
    }
    return v;
  }
  const std::string &error() const { return m_error; }

 private:
  // Records the first error (with its position) and returns false, so callers can `return
  // fail(..)`.
  bool fail(const std::string &what) {
    if (m_error.empty()) m_error = what + " at header byte " + std::to_string(m_pos);
    return false;
  }

  void skip_space() {
    while (m_pos < m_text.size() && (m_text[m_pos] == ' ' || m_text[m_pos] == '\t' ||
                                     m_text[m_pos] == '\n' || m_text[m_pos] == '\r')) {
      ++m_pos;
    }
  }

  bool consume(char c) {
    skip_space();
    if (m_pos < m_text.size() && m_text[m_pos] == c) {
      ++m_pos;
      return true;
    }
    return false;
  }

  bool parse_value(py_value &out, int depth) {
    if (depth > kMaxNesting) return fail("header nests too deeply");
    skip_space();
    if (m_pos >= m_text.size()) return fail("header ends where a value was expected");
    char c = m_text[m_pos];
    if (c == '\'' || c == '"') return parse_string(out);
    if (c == '(') return parse_sequence(out, py_value::kind::tuple, ')', depth);
    if (c == '[') return parse_sequence(out, py_value::kind::list, ']', depth);
    if (c == '{') return parse_dict(out, depth);
    if (c == '-' || (c >= '0' && c <= '9')) return parse_integer(out);
    for (auto [word, kind, flag] : {std::tuple{"True", py_value::kind::boolean, true},
                                    std::tuple{"False", py_value::kind::boolean, false},
                                    std::tuple{"None", py_value::kind::none, false}}) {
      size_t n = std::strlen(word);
      if (m_text.substr(m_pos, n) == word) {
        m_pos += n;
        out.type = kind;
        out.flag = flag;
        return true;
      }
    }
    return fail("unexpected character " + printable_char(c));
  }

  bool parse_string(py_value &out) {
    char quote = m_text[m_pos++];
    out.type = py_value::kind::string;
    while (m_pos < m_text.size() && m_text[m_pos] != quote) {
      // A backslash escapes the next character; numpy never writes one, but a quote inside a
      // field name would need it.
      if (m_text[m_pos] == '\\' && m_pos + 1 < m_text.size()) ++m_pos;
      out.text += m_text[m_pos++];
    }
    if (m_pos >= m_text.size()) return fail("unterminated string");
    ++m_pos;
    return true;
  }

  bool parse_integer(py_value &out) {
    out.type = py_value::kind::integer;
    if (m_text[m_pos] == '-') {
      out.negative = true;
      ++m_pos;
    }
    size_t digits = 0;
    while (m_pos < m_text.size() && m_text[m_pos] >= '0' && m_text[m_pos] <= '9') {
      auto next = checked_mul(out.magnitude, 10);
      if (next) next = checked_add(*next, uint64_t(m_text[m_pos] - '0'));
      if (!next)
        out.too_large = true;
      else
        out.magnitude = *next;
      ++m_pos;
      ++digits;
    }
    if (digits == 0) return fail("'-' without digits");
    // Python 2 wrote long integers with an L suffix: (3L, 4L).
    if (m_pos < m_text.size() && (m_text[m_pos] == 'L' || m_text[m_pos] == 'l')) ++m_pos;
    return true;
  }

  bool parse_sequence(py_value &out, py_value::kind kind, char close, int depth) {
    ++m_pos;
    out.type = kind;
    for (;;) {
      if (consume(close)) return true;
      py_value item;
      if (!parse_value(item, depth + 1)) return false;
      out.items.push_back(std::move(item));
      if (consume(',')) continue;
      if (consume(close)) return true;
      return fail("expected ',' or '" + std::string(1, close) + "'");
    }
  }

  bool parse_dict(py_value &out, int depth) {
    ++m_pos;
    out.type = py_value::kind::dict;
    for (;;) {
      if (consume('}')) return true;
      py_value key;
      if (!parse_value(key, depth + 1)) return false;
      if (key.type != py_value::kind::string) return fail("dict key is not a string");
      // Python keeps the last of two equal keys and this reader would keep the first: refuse
      // rather than read different data than numpy does.
      for (const auto &field : out.fields) {
        if (field.key == key.text) return fail("duplicate dict key '" + key.text + "'");
      }
      if (!consume(':')) return fail("expected ':' after a dict key");
      py_value value;
      if (!parse_value(value, depth + 1)) return false;
      out.fields.push_back({std::move(key.text), std::move(value)});
      if (consume(',')) continue;
      if (consume('}')) return true;
      return fail("expected ',' or '}'");
    }
  }

  std::string_view m_text;
  size_t m_pos = 0;
  std::string m_error;
};

const py_value *find_field(const py_value &dict, std::string_view key) {
  for (const auto &[k, v] : dict.fields) {
    if (k == key) return &v;
  }
  return nullptr;
}

// Why a numpy type-kind character is not summarizable, in words a user can act on.
std::string unsupported_kind_reason(char kind) {
  switch (kind) {
    case 'i':
      return "signed integer";
    case 'u':
      return "unsigned integer";
    case 'b':
      return "boolean";
    case 'c':
      return "complex";
    case 'O':
      return "Python object (pickled pointers, not numbers)";
    case 'U':
    case 'S':
    case 'a':
      return "string";
    case 'M':
    case 'm':
      return "datetime/timedelta";
    case 'V':
      return "raw bytes/void (ml_dtypes bfloat16 and float8 arrays are saved this way: read the "
             "data as a raw file with --dtype and --offset)";
  }
  return "unknown type kind";
}

// Maps a descr string to a ttap dtype, or throws a file_error that says what the descr is and why
// it is refused.
dtype dtype_from_descr(const std::string &descr, const std::string &path, uint64_t data_offset) {
  // Appended, not `"'" + ...`: GCC 12 gives a false -Wrestrict on literal + string temporaries.
  std::string quoted = "'";
  quoted += printable_name(descr, 40);
  quoted += '\'';
  const std::string supported = "supported: '<f2', '<f4', '<f8'";
  size_t i = 0;
  char order = '=';
  if (!descr.empty() &&
      (descr[0] == '<' || descr[0] == '>' || descr[0] == '|' || descr[0] == '=')) {
    order = descr[i++];
  }
  if (i >= descr.size()) throw file_error(path + ": invalid dtype descr " + quoted);
  char kind = descr[i++];
  if (kind != 'f') {
    std::string hint =
        kind == 'V' ? " (the data starts at byte " + std::to_string(data_offset) + ")" : "";
    throw file_error(path + ": unsupported dtype " + quoted + ", " + unsupported_kind_reason(kind) +
                     ": ttap stats summarizes floating-point arrays only (" + supported + ")" +
                     hint);
  }
  uint64_t size = 0;
  bool has_size = i < descr.size();
  for (; i < descr.size(); ++i) {
    if (descr[i] < '0' || descr[i] > '9' || size > 1000000) {
      throw file_error(path + ": invalid dtype descr " + quoted);
    }
    size = size * 10 + uint64_t(descr[i] - '0');
  }
  if (!has_size || (size != 2 && size != 4 && size != 8)) {
    throw file_error(path + ": unsupported dtype " + quoted +
                     (size > 8 ? ", extended precision (long double)" : "") +
                     ": only 2-, 4- and 8-byte floats are supported (" + supported + ")");
  }
  if (order == '>') {
    throw file_error(path + ": unsupported dtype " + quoted +
                     ", big-endian: ttap stats reads little-endian data in place without copying "
                     "(convert with arr.astype(arr.dtype.newbyteorder('<')))");
  }
  if (order == '|') {
    // numpy writes '|' only for types without a byte order (1-byte types); a multi-byte float
    // claiming none is a malformed header, not a choice we can honour.
    throw file_error(path + ": invalid dtype descr " + quoted +
                     ": a multi-byte float must say its byte order");
  }
  return size == 2 ? dtype::f16 : size == 4 ? dtype::f32 : dtype::f64;
}

uint32_t read_le(const std::byte *p, int bytes) {
  uint32_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | uint32_t(p[i]);
  return v;
}

std::string shape_text(const std::vector<uint64_t> &shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    s += (i ? ", " : "") + std::to_string(shape[i]);
  }
  return s + (shape.size() == 1 ? ",)" : ")");
}

}  // namespace

tensor_list read_npy(std::span<const std::byte> file, const std::string &path) {
  const uint64_t file_size = file.size();
  if (file_size < kMagicLen + 2 || std::memcmp(file.data(), kMagic, kMagicLen) != 0) {
    throw file_error(path + ": not a .npy file (missing the \\x93NUMPY magic)");
  }
  const int major = int(file[6]), minor = int(file[7]);
  if ((major != 1 && major != 2 && major != 3) || minor != 0) {
    throw file_error(path + ": unsupported .npy format version " + std::to_string(major) + "." +
                     std::to_string(minor) + " (supported: 1.0, 2.0, 3.0)");
  }
  // Version 1.0 has a 2-byte header length; 2.0 and 3.0 (UTF-8 header) have 4 bytes.
  const uint64_t len_bytes = major == 1 ? 2 : 4;
  const uint64_t header_begin = kMagicLen + 2 + len_bytes;
  if (file_size < header_begin) {
    throw file_error(path + ": file ends inside the .npy header length");
  }
  const uint64_t header_len = read_le(file.data() + kMagicLen + 2, int(len_bytes));
  const uint64_t data_offset = header_begin + header_len;
  if (data_offset > file_size) {
    throw file_error(path + ": .npy header length " + std::to_string(header_len) +
                     " runs past the end of the file (" + std::to_string(file_size) + " bytes)");
  }

  std::string_view header(reinterpret_cast<const char *>(file.data()) + header_begin,
                          size_t(header_len));
  py_literal_parser parser(header);
  auto dict = parser.parse_document();
  if (!dict) throw file_error(path + ": malformed .npy header: " + parser.error());
  if (dict->type != py_value::kind::dict) {
    throw file_error(path + ": malformed .npy header: not a dict");
  }
  const py_value *descr = find_field(*dict, "descr");
  const py_value *fortran = find_field(*dict, "fortran_order");
  const py_value *shape_value = find_field(*dict, "shape");
  for (auto [value, key] : {std::pair{descr, "descr"}, std::pair{fortran, "fortran_order"},
                            std::pair{shape_value, "shape"}}) {
    if (!value) throw file_error(path + ": .npy header has no '" + std::string(key) + "' key");
  }
  if (descr->type == py_value::kind::list) {
    throw file_error(path +
                     ": unsupported structured dtype (a record array with named fields): "
                     "ttap stats summarizes plain float arrays only");
  }
  if (descr->type != py_value::kind::string) {
    throw file_error(path + ": .npy header 'descr' is not a string");
  }
  if (fortran->type != py_value::kind::boolean) {
    throw file_error(path + ": .npy header 'fortran_order' is not True or False");
  }
  if (shape_value->type != py_value::kind::tuple && shape_value->type != py_value::kind::list) {
    throw file_error(path + ": .npy header 'shape' is not a tuple");
  }
  std::vector<uint64_t> shape;
  for (const auto &dim : shape_value->items) {
    if (dim.type != py_value::kind::integer) {
      throw file_error(path + ": .npy header 'shape' holds a non-integer dimension");
    }
    if (dim.negative && dim.magnitude != 0) {
      throw file_error(path + ": .npy header 'shape' has a negative dimension");
    }
    if (dim.too_large) {
      throw file_error(path + ": .npy header 'shape' has a dimension that does not fit in 64 bits");
    }
    shape.push_back(dim.magnitude);
  }
  const dtype type = dtype_from_descr(descr->text, path, data_offset);

  const auto numel = checked_numel(shape);
  const auto bytes = numel ? checked_mul(*numel, uint64_t(dtype_size(type))) : std::nullopt;
  if (!bytes) {
    throw file_error(path + ": .npy shape " + shape_text(shape) +
                     " has more bytes than fit in 64 bits");
  }
  const uint64_t available = file_size - data_offset;
  if (*bytes > available) {
    throw file_error(path + ": truncated: shape " + shape_text(shape) + " of '" + descr->text +
                     "' needs " + std::to_string(*bytes) + " bytes of data but the file has " +
                     std::to_string(available) + " after the header");
  }

  tensor_list out;
  tensor_entry entry;
  entry.name = file_basename(path);
  entry.shape = std::move(shape);
  entry.view = tensor_view{file.data() + data_offset, type, *numel};
  entry.file_offset = data_offset;
  out.tensors.push_back(std::move(entry));
  return out;
}

}  // namespace ttap::formats
