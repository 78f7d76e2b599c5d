#include "proto/protocol.h"

#include <algorithm>

namespace tvd::proto {

using nlohmann::json;

namespace {
constexpr std::pair<Code, std::string_view> kCodes[] = {
    {Code::kBadRequest, "bad_request"},
    {Code::kBadInput, "bad_input"},
    {Code::kNotFound, "not_found"},
    {Code::kConflict, "conflict"},
    {Code::kForbidden, "forbidden"},
    {Code::kTooLarge, "too_large"},
    {Code::kUnsupportedVersion, "unsupported_version"},
    {Code::kUnknownOp, "unknown_op"},
    {Code::kInternal, "internal"},
};
}  // namespace

std::string_view to_string(Code c) {
  for (const auto& [code, name] : kCodes) {
    if (code == c) return name;
  }
  return "internal";
}

std::optional<Code> code_from_string(std::string_view s) {
  for (const auto& [code, name] : kCodes) {
    if (name == s) return code;
  }
  return std::nullopt;
}

int exit_code(Code c) {
  switch (c) {
    case Code::kBadRequest:
    case Code::kBadInput:
    case Code::kNotFound:
    case Code::kUnknownOp:
    case Code::kUnsupportedVersion:
      return 2;
    default:
      return 1;
  }
}

Code code_for(const Error& e) {
  switch (e.kind) {
    case ErrorKind::kBadInput:
      return Code::kBadInput;
    case ErrorKind::kNotFound:
      return Code::kNotFound;
    case ErrorKind::kConflict:
      return Code::kConflict;
    default:
      return Code::kInternal;
  }
}

Reply Reply::success(int64_t id, json result) {
  Reply r;
  r.id = id;
  r.result = std::move(result);
  return r;
}

Reply Reply::failure(int64_t id, Code code, std::string message, std::string hint) {
  Reply r;
  r.id = id;
  r.ok = false;
  r.result = nullptr;
  r.error = ErrorBody{code, std::move(message), std::move(hint)};
  return r;
}

std::string encode(const Request& r) {
  json j = {{"v", kVersion}, {"id", r.id}, {"op", r.op}, {"args", r.args}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string encode(const Reply& r) {
  json j = {{"v", kVersion}, {"id", r.id}, {"ok", r.ok}};
  if (r.ok) j["result"] = r.result;
  if (r.error) {
    j["error"] = {{"code", to_string(r.error->code)}, {"message", r.error->message}};
    if (!r.error->hint.empty()) j["error"]["hint"] = r.error->hint;
  }
  if (r.more) j["more"] = true;
  return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

namespace {

constexpr int kMaxNesting = 16;

// How deep the arrays and objects of a JSON text nest, not counting brackets inside strings.
int nesting(std::string_view text) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      deepest = std::max(deepest, ++depth);
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return deepest;
}

}  // namespace

tl::expected<Request, ErrorBody> decode_request(std::string_view line) {
  auto bad = [](std::string msg) {
    return tl::unexpected(
        ErrorBody{Code::kBadRequest, std::move(msg),
                  "one JSON object per line: {\"v\": 1, \"id\": N, \"op\": \"status\"}"});
  };
  // No request needs deep nesting; refusing it before parsing keeps every later walk of the
  // value (dumps, reads) shallow.
  if (nesting(line) > kMaxNesting) {
    return bad("nested deeper than " + std::to_string(kMaxNesting) + " levels");
  }
  json j = json::parse(line, nullptr, false);
  if (j.is_discarded()) return bad("not valid JSON");
  if (!j.is_object()) return bad("a request is a JSON object");
  if (!j.contains("v") || !j["v"].is_number_integer())
    return bad("\"v\" (the protocol version) is missing or not a number");
  if (j["v"] != kVersion) {
    return tl::unexpected(ErrorBody{Code::kUnsupportedVersion,
                                    "protocol version " + j["v"].dump() + " is not spoken here",
                                    "this tvd speaks version " + std::to_string(kVersion)});
  }
  if (!j.contains("id") || !j["id"].is_number_integer())
    return bad("\"id\" is missing or not a whole number");
  if (!j.contains("op") || !j["op"].is_string()) return bad("\"op\" is missing or not a string");
  Request r;
  r.id = j["id"].get<int64_t>();
  r.op = j["op"].get<std::string>();
  if (j.contains("args")) {
    if (!j["args"].is_object()) return bad("\"args\" must be an object");
    r.args = j["args"];
  }
  return r;
}

Result<Reply> decode_reply(std::string_view line) {
  json j = json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("ok") || !j["ok"].is_boolean()) {
    return fail(ErrorKind::kIo, "the daemon sent something that is not a reply",
                "tvd and tvctl must be the same version");
  }
  Reply r;
  r.id = j.value("id", int64_t{0});
  r.ok = j["ok"].get<bool>();
  r.more = j.value("more", false);
  if (r.ok) {
    r.result = j.value("result", json::object());
  } else {
    const json& e = j.value("error", json::object());
    ErrorBody body;
    body.code = code_from_string(e.value("code", "internal")).value_or(Code::kInternal);
    body.message = e.value("message", "");
    body.hint = e.value("hint", "");
    r.error = std::move(body);
  }
  return r;
}

std::vector<std::string> LineFramer::feed(std::string_view data) {
  std::vector<std::string> lines;
  if (overflowed_) return lines;
  buffer_.append(data);
  size_t start = 0;
  while (true) {
    size_t nl = buffer_.find('\n', start);
    if (nl == std::string::npos) break;
    if (nl - start > limit_) {
      overflowed_ = true;
      return lines;
    }
    lines.emplace_back(buffer_.substr(start, nl - start));
    start = nl + 1;
  }
  buffer_.erase(0, start);
  if (buffer_.size() > limit_) overflowed_ = true;
  return lines;
}

}  // namespace tvd::proto
