#include "daemon/notify/webhook.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <memory>

namespace tvd::notify {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

Result<HttpUrl> parse_http_url(const std::string& url) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) {
    return fail(ErrorKind::kBadInput, "not an http:// URL: " + url, "");
  }
  std::string rest = url.substr(scheme.size());
  HttpUrl u;
  auto slash = rest.find('/');
  if (slash != std::string::npos) {
    u.target = rest.substr(slash);
    rest = rest.substr(0, slash);
  }
  if (!rest.empty() && rest[0] == '[') {  // [::1]:9000
    auto close = rest.find(']');
    if (close == std::string::npos) return fail(ErrorKind::kBadInput, "bad host in " + url, "");
    u.host = rest.substr(1, close - 1);
    if (close + 1 < rest.size() && rest[close + 1] == ':') u.port = rest.substr(close + 2);
  } else if (auto colon = rest.rfind(':'); colon != std::string::npos) {
    u.host = rest.substr(0, colon);
    u.port = rest.substr(colon + 1);
  } else {
    u.host = rest;
  }
  const bool digits = !u.port.empty() && u.port.size() <= 5 &&
                      u.port.find_first_not_of("0123456789") == std::string::npos;
  if (u.host.empty() || !digits || std::stoul(u.port) == 0 || std::stoul(u.port) > 65535) {
    return fail(ErrorKind::kBadInput, "no host, or a port that is not one, in " + url, "");
  }
  return u;
}

namespace {

// One POST: resolve, connect, write, read; every step under the one deadline of the stream.
struct Post : std::enable_shared_from_this<Post> {
  Post(asio::io_context& io, HttpUrl u, std::string body, std::chrono::seconds limit,
       std::function<void(const std::string&)> then)
      : resolver(io),
        stream(io),
        deadline(io, limit),
        timeout(limit),
        url(std::move(u)),
        done(std::move(then)) {
    request = {http::verb::post, url.target, 11};
    request.set(http::field::host, url.host);
    request.set(http::field::user_agent, "tvd");
    request.set(http::field::content_type, "application/json");
    request.body() = std::move(body);
    request.prepare_payload();
    stream.expires_after(limit);
  }
  void start() {
    // The whole delivery under one deadline: the stream's covers connecting, writing and
    // reading, not resolving.
    deadline.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec) return;
      self->resolver.cancel();
      self->finish("no answer in " + std::to_string(self->timeout.count()) + " s");
    });
    // An address needs no resolver. (Asio's resolver thread stops for every fork the runner
    // makes and starts again only at the next resolve: a name resolved while a child is started
    // can wait until the deadline, and is tried again.)
    beast::error_code ec;
    auto address = asio::ip::make_address(url.host, ec);
    if (!ec) {
      auto port = std::stoul(url.port);
      stream.async_connect(
          asio::ip::tcp::endpoint(address, static_cast<unsigned short>(port)),
          [self = shared_from_this()](beast::error_code e) { self->connected(e); });
      return;
    }
    resolver.async_resolve(url.host, url.port,
                           [self = shared_from_this()](beast::error_code e, auto results) {
                             self->resolved(e, results);
                           });
  }
  void resolved(beast::error_code ec, const asio::ip::tcp::resolver::results_type& results) {
    // A resolve a fork held up may end long after the deadline ended this delivery (it is tried
    // again by then): it sends nothing.
    if (!done) return;
    if (ec) return finish("cannot resolve " + url.host + ": " + ec.message());
    stream.async_connect(results, [self = shared_from_this()](beast::error_code e, const auto&) {
      self->connected(e);
    });
  }
  void connected(beast::error_code ec) {
    if (ec) return finish("cannot connect: " + ec.message());
    http::async_write(stream, request, [self = shared_from_this()](beast::error_code e, size_t) {
      self->written(e);
    });
  }
  void written(beast::error_code ec) {
    if (ec) return finish("cannot send: " + ec.message());
    http::async_read(stream, buffer, response,
                     [self = shared_from_this()](beast::error_code e, size_t) { self->read(e); });
  }
  void read(beast::error_code ec) {
    if (ec) return finish("no answer: " + ec.message());
    const unsigned status = response.result_int();
    if (status / 100 == 2) return finish("");
    finish("answered " + std::to_string(status) + " " + std::string(response.reason()));
  }
  void finish(const std::string& error) {
    deadline.cancel();
    beast::error_code ignored;
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    if (done) {
      auto d = std::move(done);
      done = nullptr;
      d(error);
    }
  }

  asio::ip::tcp::resolver resolver;
  beast::tcp_stream stream;
  asio::steady_timer deadline;
  std::chrono::seconds timeout;
  HttpUrl url;
  std::function<void(const std::string&)> done;
  http::request<http::string_body> request;
  http::response<http::string_body> response;
  beast::flat_buffer buffer;
};

}  // namespace

void post_json(asio::io_context& io, const std::string& url, std::string body,
               std::chrono::seconds timeout, std::function<void(const std::string& error)> done) {
  auto u = parse_http_url(url);
  if (!u) {
    asio::post(io, [done = std::move(done), e = u.error().message] { done(e); });
    return;
  }
  std::make_shared<Post>(io, std::move(*u), std::move(body), timeout, std::move(done))->start();
}

}  // namespace tvd::notify
