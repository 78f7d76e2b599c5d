// The protocol of PROTOCOL.md: message envelopes, errors, and the line framing. Linked by both
// tvd and tvctl. Payloads are JSON objects; the envelope is typed.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/base/result.h"

namespace tvd::proto {

inline constexpr int kVersion = 1;
inline constexpr size_t kMaxFrame = 1 << 20;

// Where tvd and tvctl look when told nothing (DESIGN.md, "The contract"): the config, and in it
// the `socket` key (a relative path is read from the config's directory).
inline constexpr const char* kDefaultConfigPath = "/etc/tvd/tvd.json";
inline constexpr const char* kDefaultSocket = "/run/tvd/tvd.sock";

enum class Code {
  kBadRequest,
  kBadInput,
  kNotFound,
  kConflict,
  kForbidden,
  kTooLarge,
  kUnsupportedVersion,
  kUnknownOp,
  kInternal,
};
std::string_view to_string(Code c);
std::optional<Code> code_from_string(std::string_view s);
// tvctl's exit code for an error reply: 2 when the request itself was wrong, 1 otherwise.
int exit_code(Code c);
// From a library error to a reply error.
Code code_for(const Error& e);

struct ErrorBody {
  Code code = Code::kInternal;
  std::string message;
  std::string hint;
};

struct Request {
  int64_t id = 0;
  std::string op;
  nlohmann::json args = nlohmann::json::object();
};

struct Reply {
  int64_t id = 0;
  bool ok = true;
  nlohmann::json result = nlohmann::json::object();
  std::optional<ErrorBody> error;
  bool more = false;  // a streaming reply with more to come

  static Reply success(int64_t id, nlohmann::json result);
  static Reply failure(int64_t id, Code code, std::string message, std::string hint = {});
};

std::string encode(const Request& r);  // one line, with its newline
std::string encode(const Reply& r);
// A request line as the daemon reads it; the error says what was wrong with it.
tl::expected<Request, ErrorBody> decode_request(std::string_view line);
Result<Reply> decode_reply(std::string_view line);

// Cuts a byte stream into lines; a line over the limit is an error, after which the connection
// should be closed.
class LineFramer {
 public:
  explicit LineFramer(size_t limit = kMaxFrame) : limit_(limit) {}
  // Appends data; returns the complete lines now available, without their newlines.
  std::vector<std::string> feed(std::string_view data);
  bool overflowed() const { return overflowed_; }

 private:
  size_t limit_;
  std::string buffer_;
  bool overflowed_ = false;
};

}  // namespace tvd::proto
