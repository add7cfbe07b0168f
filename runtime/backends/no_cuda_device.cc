// make_cuda_device in a build without the CUDA toolkit: always "no device", with the reason.
#include "runtime/backends/device.h"

namespace ttap {

std::unique_ptr<device> make_cuda_device(std::string *why_not) {
  if (why_not) *why_not = "no CUDA device: this tensortap was built without the CUDA toolkit";
  return nullptr;
}

cuda_inventory query_cuda_inventory() {
  cuda_inventory inventory;
  inventory.error = "this tensortap was built without the CUDA toolkit";
  return inventory;
}

}  // namespace ttap
