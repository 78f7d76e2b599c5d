#include <boost/asio/io_context.hpp>
#include <boost/asio/system_timer.hpp>

#include "daemon/service/clock.h"

namespace tvd::service {
namespace {

class AsioClock final : public Clock {
 public:
  explicit AsioClock(boost::asio::io_context& io) : io_(io) {}
  TimePoint now() const override { return std::chrono::system_clock::now(); }
  void call_at(TimePoint when, std::function<void()> fn) override {
    auto timer = std::make_shared<boost::asio::system_timer>(io_, when);
    timer->async_wait([timer, fn = std::move(fn)](boost::system::error_code ec) {
      if (!ec) fn();
    });
  }

 private:
  boost::asio::io_context& io_;
};

}  // namespace

std::unique_ptr<Clock> make_asio_clock(boost::asio::io_context& io) {
  return std::make_unique<AsioClock>(io);
}

}  // namespace tvd::service
