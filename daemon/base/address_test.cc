#include "daemon/base/address.h"

#include <gtest/gtest.h>

namespace tvd {
namespace {

TEST(ListenAddress, AnIpAddressAndAPort) {
  auto v4 = parse_listen_address("127.0.0.1:8347");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 8347);
  auto v6 = parse_listen_address("[::1]:0");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 0);
  EXPECT_EQ(parse_listen_address("localhost:80")->host, "127.0.0.1");
  EXPECT_EQ(parse_listen_address("0.0.0.0:65535")->port, 65535);
  for (const char* bad : {"8347", "buildhost:8347", "127.0.0.1:", "127.0.0.1:65536",
                          "127.0.0.1:http", "::1:8347", "[::1]", "300.1.1.1:80", ":80"}) {
    EXPECT_FALSE(parse_listen_address(bad)) << bad;
  }
}

}  // namespace
}  // namespace tvd
