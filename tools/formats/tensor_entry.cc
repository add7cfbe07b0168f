// Shared helpers of the tensor readers: the printable form of file-provided names used in every
// error message and table, so no reader can forget to neutralize a hostile name.
#include "tools/formats/tensor_entry.h"

#include "runtime/text/printable.h"

namespace ttap::formats {

std::string printable_name(std::string_view name, size_t max_chars) {
  return text::printable(name, max_chars);
}

}  // namespace ttap::formats
