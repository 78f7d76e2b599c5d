#include "daemon/base/address.h"

#include <arpa/inet.h>

#include <charconv>

namespace tvd {

std::optional<ListenAddress> parse_listen_address(std::string_view text) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view host = text.substr(0, colon), port = text.substr(colon + 1);
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value > 65535) {
    return std::nullopt;
  }
  ListenAddress out;
  out.port = static_cast<unsigned short>(value);
  unsigned char addr[sizeof(in6_addr)];
  if (host == "localhost") {
    out.host = "127.0.0.1";
  } else if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    out.host = std::string(host.substr(1, host.size() - 2));
    if (::inet_pton(AF_INET6, out.host.c_str(), addr) != 1) return std::nullopt;
  } else {
    out.host = std::string(host);
    if (::inet_pton(AF_INET, out.host.c_str(), addr) != 1) return std::nullopt;
  }
  return out;
}

}  // namespace tvd
