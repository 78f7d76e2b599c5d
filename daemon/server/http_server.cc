#include "daemon/server/http_server.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <optional>

#include "daemon/base/address.h"
#include "daemon/base/log.h"

namespace tvd::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

HttpResponse HttpResponse::text(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.body = std::move(body);
  if (r.body.empty() || r.body.back() != '\n') r.body += '\n';
  return r;
}

namespace {

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

std::map<std::string, std::string> parse_query(std::string_view query) {
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    out[decode(pair.substr(0, eq))] =
        eq == std::string_view::npos ? std::string() : decode(pair.substr(eq + 1));
  }
  return out;
}

namespace {

struct Shared {
  HttpLimits limits;
  HttpHandler handler;
  size_t open = 0;
  bool stopped = false;
  bool loopback = false;  // listening on 127.0.0.1 or ::1 only
};

}  // namespace

bool loopback_host(std::string_view host) {
  if (host.empty()) return true;  // HTTP/1.0 without Host
  std::string_view name = host;
  if (name.front() == '[') {
    name = name.substr(1, name.find(']') == std::string_view::npos ? 0 : name.find(']') - 1);
    return name == "::1";
  }
  if (auto colon = name.find(':'); colon != std::string_view::npos) name = name.substr(0, colon);
  if (name == "localhost") return true;
  boost::system::error_code ec;
  auto a = asio::ip::make_address_v4(std::string(name), ec);
  return !ec && a.is_loopback();
}

namespace {

// Headers every reply carries: nothing cached, nothing sniffed, nothing loaded from elsewhere.
void common_headers(http::response<http::string_body>& res) {
  res.set(http::field::server, "tvd");
  res.set(http::field::cache_control, "no-store");
  res.set("X-Content-Type-Options", "nosniff");
  res.set("Content-Security-Policy",
          "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::shared_ptr<Shared> shared)
      : stream_(std::move(socket)),
        buffer_(shared->limits.header_bytes * 2),
        shared_(std::move(shared)) {
    shared_->open++;
  }
  ~Session() { shared_->open--; }

  void read() {
    if (shared_->stopped) return;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(shared_->limits.header_bytes));
    parser_->body_limit(boost::none);  // never read: refused by is_done() below
    stream_.expires_after(shared_->limits.request_timeout);
    // The header only: a method or a body the dashboard does not take is refused unread.
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

 private:
  void on_read(beast::error_code ec) {
    // The client went away, or was too slow: close without a word.
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
        ec == asio::error::eof) {
      close();
      return;
    }
    if (ec == http::error::header_limit) {
      return reply_error(431, "The request line and headers may be " +
                                  std::to_string(shared_->limits.header_bytes / 1024) +
                                  " KiB at most.");
    }
    if (ec == http::error::body_limit || ec == http::error::unexpected_body) {
      return reply_error(413, "The dashboard takes no request bodies; it is read-only.");
    }
    if (ec) return reply_error(400, "Bad request: " + ec.message() + ".");

    const auto& req = parser_->get();
    const bool head = req.method() == http::verb::head;
    if (req.method() != http::verb::get && !head) {
      HttpResponse r = HttpResponse::text(405, "The dashboard is read-only: GET and HEAD only.");
      r.headers.emplace_back("Allow", "GET, HEAD");
      return write(r, false, false);
    }
    if (!parser_->is_done()) {
      return reply_error(413, "The dashboard takes no request bodies; it is read-only.");
    }
    // On loopback, a page of another site that renamed itself to 127.0.0.1 (DNS rebinding)
    // still sends its own name: it gets nothing.
    if (shared_->loopback && !loopback_host(req[http::field::host])) {
      return reply_error(403,
                         "This dashboard listens on the loopback address and answers only "
                         "requests for localhost or 127.0.0.1 (Host: " +
                             std::string(req[http::field::host]) +
                             "). Reach it through an SSH tunnel, or set http.listen to an "
                             "address others can reach.");
    }
    std::string_view target = req.target();
    if (target.empty() || target.front() != '/') {
      return reply_error(400, "Bad request: the target must be a path such as /queue.");
    }
    HttpRequest request;
    request.method = head ? "HEAD" : "GET";
    auto q = target.find('?');
    request.path = std::string(target.substr(0, q));
    if (q != std::string_view::npos) request.query = parse_query(target.substr(q + 1));
    HttpResponse response;
    try {
      response = shared_->handler(request);
    } catch (const std::exception& e) {
      log::error(std::string("dashboard: ") + request.path + ": " + e.what());
      response = HttpResponse::text(500, "Internal error; the daemon's log has the details.");
    }
    write(response, req.keep_alive(), head);
  }

  void reply_error(int status, std::string text) {
    write(HttpResponse::text(status, std::move(text)), false, false);
  }

  void write(const HttpResponse& r, bool keep_alive, bool head) {
    res_ = {};
    res_.version(11);
    res_.result(static_cast<unsigned>(r.status));
    common_headers(res_);
    res_.set(http::field::content_type, r.content_type);
    for (const auto& [k, v] : r.headers)
      res_.set(k, v);
    res_.keep_alive(keep_alive && !shared_->stopped);
    if (head) {
      res_.content_length(r.body.size());
    } else {
      res_.body() = r.body;
      res_.prepare_payload();
    }
    stream_.expires_after(shared_->limits.request_timeout);
    http::async_write(stream_, res_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec || !self->res_.keep_alive()) return self->close();
      self->read();
    });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::shared_ptr<Shared> shared_;
  std::optional<http::request_parser<http::empty_body>> parser_;
  http::response<http::string_body> res_;
};

class Server final : public HttpServer {
 public:
  Server(asio::io_context& io, std::shared_ptr<Shared> shared)
      : acceptor_(io), retry_(io), shared_(std::move(shared)) {}

  Status open(const tcp::endpoint& at) {
    beast::error_code ec;
    acceptor_.open(at.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(at, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return fail(ErrorKind::kIo,
                  "cannot listen on " + at.address().to_string() + ":" + std::to_string(at.port()) +
                      " for the dashboard: " + ec.message(),
                  "another process may have the port: set http.listen to another HOST:PORT, "
                  "or to \"off\"");
    }
    return {};
  }

  void accept() {
    acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec) {
        if (ec == asio::error::operation_aborted || shared_->stopped) return;
        // Out of descriptors, say: once in the log, then again every 200 ms, never a spin.
        if (!accept_failing_) {
          log::warning("dashboard: accept: " + ec.message() + "; trying again every 200 ms");
        }
        accept_failing_ = true;
        retry_.expires_after(std::chrono::milliseconds(200));
        retry_.async_wait([this](beast::error_code e) {
          if (!e) accept();
        });
        return;
      }
      accept_failing_ = false;
      if (shared_->open >= shared_->limits.max_connections) {
        beast::error_code ignored;
        socket.close(ignored);  // at the cap: the newest connection goes
      } else {
        std::make_shared<Session>(std::move(socket), shared_)->read();
      }
      accept();
    });
  }

  unsigned short port() const override {
    beast::error_code ec;
    return acceptor_.local_endpoint(ec).port();
  }
  void stop() override {
    shared_->stopped = true;
    beast::error_code ignored;
    acceptor_.close(ignored);
    retry_.cancel();
  }
  ~Server() override { stop(); }

 private:
  tcp::acceptor acceptor_;
  asio::steady_timer retry_;  // accept again after an error
  bool accept_failing_ = false;
  std::shared_ptr<Shared> shared_;
};

}  // namespace

Result<std::unique_ptr<HttpServer>> HttpServer::listen(asio::io_context& io,
                                                       const std::string& listen, HttpLimits limits,
                                                       HttpHandler handler) {
  auto parsed = parse_listen_address(listen);
  if (!parsed) {
    return fail(ErrorKind::kBadInput,
                "http.listen \"" + listen + "\" is not an IP address and a port",
                "write it as \"127.0.0.1:8347\" (this host only), \"0.0.0.0:8347\" or "
                "\"[::1]:8347\"; \"off\" turns the dashboard off");
  }
  const auto address = asio::ip::make_address(parsed->host);
  const auto port = parsed->port;
  auto shared = std::make_shared<Shared>();
  shared->limits = limits;
  shared->handler = std::move(handler);
  shared->loopback = address.is_loopback();
  auto server = std::make_unique<Server>(io, shared);
  if (auto st = server->open({address, port}); !st) {
    return tl::unexpected(st.error());
  }
  server->accept();
  return std::unique_ptr<HttpServer>(std::move(server));
}

}  // namespace tvd::server
