// Time for the engine: what time it is, and "call me at T". The real one is Asio's; the engine
// never reads the system clock itself.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

namespace boost::asio {
class io_context;
}

namespace tvd::service {

using TimePoint = std::chrono::system_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
  // Calls `fn` on the engine's thread at `when` (or soon after).
  virtual void call_at(TimePoint when, std::function<void()> fn) = 0;
};

std::unique_ptr<Clock> make_asio_clock(boost::asio::io_context& io);

}  // namespace tvd::service
