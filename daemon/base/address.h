// HOST:PORT as the config writes a listening address, parsed once for the config's check and the
// server's bind.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tvd {

struct ListenAddress {
  std::string host;  // a bare IP address: "127.0.0.1", "::1"
  unsigned short port = 0;
};

// "127.0.0.1:8347", "0.0.0.0:80", "[::1]:8347", "localhost:0" (as 127.0.0.1); nullopt for
// anything else (a host name, a bare IPv6 address, a port past 65535).
std::optional<ListenAddress> parse_listen_address(std::string_view text);

}  // namespace tvd
