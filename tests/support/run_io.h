// Runs an io_context until a condition holds: for tests of what runs on real processes (the
// engine's end-to-end tests, the git lane's).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>

namespace tvd::testing {

// Runs `io` until `done()` holds (checked every `poll`) or `limit` passes; whether it holds.
inline bool run_io_until(boost::asio::io_context& io, const std::function<bool()>& done,
                         std::chrono::milliseconds limit,
                         std::chrono::milliseconds poll = std::chrono::milliseconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  boost::asio::steady_timer timer(io);
  std::function<void()> check = [&] {
    if (done() || std::chrono::steady_clock::now() > deadline) {
      io.stop();
      return;
    }
    timer.expires_after(poll);
    timer.async_wait([&](auto) { check(); });
  };
  check();
  io.restart();
  io.run();
  return done();
}

}  // namespace tvd::testing
