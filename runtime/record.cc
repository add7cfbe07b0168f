// Names of the record enums, as the store and the alert lines spell them.
#include "runtime/record.h"

namespace ttap {

const char *tensor_kind_name(tensor_kind k) {
  switch (k) {
    case tensor_kind::grad:
      return "grad";
    case tensor_kind::param:
      return "param";
    case tensor_kind::activation:
      return "activation";
    case tensor_kind::other:
      return "other";
    case tensor_kind::collective:
      return "collective";
  }
  return "other";
}

const char *alert_type_name(alert_type t) {
  switch (t) {
    case alert_type::nonfinite:
      return "nonfinite";
    case alert_type::spike:
      return "spike";
    case alert_type::vanishing:
      return "vanishing";
    case alert_type::fp8_range:
      return "fp8_range";
    case alert_type::loss_spike:
      return "loss_spike";
    case alert_type::nonfinite_source:
      return "nonfinite_source";
    case alert_type::divergence:
      return "divergence";
    case alert_type::outlier_rank:
      return "outlier_rank";
    case alert_type::straggler:
      return "straggler";
  }
  return "?";
}

const char *action_kind_name(action_kind k) {
  switch (k) {
    case action_kind::skip:
      return "skip";
    case action_kind::dump:
      return "dump";
    case action_kind::abort:
      return "abort";
  }
  return "?";
}

}  // namespace ttap
