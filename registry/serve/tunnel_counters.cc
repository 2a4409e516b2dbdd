#include "registry/serve/tunnel_counters.h"

namespace regcache::registry {

std::string_view tunnel_result_name(TunnelResult result) {
  switch (result) {
  case TunnelResult::Ok:
    return "ok";
  case TunnelResult::RefusedPort:
    return "refused_port";
  case TunnelResult::RefusedAddress:
    return "refused_address";
  case TunnelResult::Auth:
    return "auth";
  case TunnelResult::Unreachable:
    return "unreachable";
  case TunnelResult::Timeout:
    return "timeout";
  case TunnelResult::Busy:
    return "busy";
  }
  return "ok";
}

} // namespace regcache::registry
