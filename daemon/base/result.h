// The error policy of library code: functions that can fail return Result<T>; exceptions are
// for start-up and fatal errors only, caught once in main. An Error says what was wrong
// (message) and what to do about it (hint); its kind decides the exit code.
#pragma once

#include <string>
#include <tl/expected.hpp>
#include <utility>

namespace tvd {

enum class ErrorKind {
  kBadInput,  // the caller's input or configuration is wrong; nothing was changed (exit 2)
  kNotFound,  // a named thing does not exist (exit 2: it is still the caller's input)
  kConflict,  // the request is valid but the current state refuses it (exit 1)
  kIo,        // the system failed us: a file, a directory, a child process (exit 1)
  kInternal,  // a bug in tvd (exit 1)
};

struct Error {
  ErrorKind kind = ErrorKind::kInternal;
  std::string message = {};
  std::string hint = {};
};

// The error with a last sentence for its hint, saying what the caller left undone: a parser
// knows what was wrong, only its caller knows what did not happen ("Nothing was queued.").
inline Error nothing_done(Error e, const std::string& sentence) {
  e.hint += (e.hint.empty() ? "" : " ") + sentence;
  return e;
}

template <class T>
using Result = tl::expected<T, Error>;
using Status = tl::expected<void, Error>;

inline tl::unexpected<Error> fail(ErrorKind kind, std::string message, std::string hint = {}) {
  return tl::unexpected<Error>(Error{kind, std::move(message), std::move(hint)});
}

// Propagation, as ccache's TRY: returns the error of a failed Result or Status from the enclosing
// function (which returns a Result or Status itself).
//   TRY(store.commit());
//   TRY_ASSIGN(auto rows, store.recent_jobs(20));   // rows is the value
#define TVD_CONCAT_(a, b) a##b
#define TVD_CONCAT(a, b) TVD_CONCAT_(a, b)
#define TRY(expr)                                                                      \
  do {                                                                                 \
    auto&& tvd_try_result_ = (expr);                                                   \
    if (!tvd_try_result_) return ::tl::unexpected(std::move(tvd_try_result_).error()); \
  } while (false)
#define TRY_ASSIGN(decl, expr)                                                  \
  auto&& TVD_CONCAT(tvd_try_, __LINE__) = (expr);                               \
  if (!TVD_CONCAT(tvd_try_, __LINE__))                                          \
    return ::tl::unexpected(std::move(TVD_CONCAT(tvd_try_, __LINE__)).error()); \
  decl = std::move(*TVD_CONCAT(tvd_try_, __LINE__))

// 2 for bad input (nothing was changed), 1 for everything else; see DESIGN.md's contract.
inline int exit_code(const Error& e) {
  return e.kind == ErrorKind::kBadInput || e.kind == ErrorKind::kNotFound ? 2 : 1;
}

}  // namespace tvd
