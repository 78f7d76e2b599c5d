// The store's SQLite helpers, shared by its files (store.cc, variant_history.cc): one prepared
// statement, one transaction, errors that say what to check. Not for use outside daemon/store.
#pragma once

#include <sqlite3.h>

#include <optional>
#include <string>
#include <variant>

#include "daemon/base/result.h"

namespace tvd::store::sql {

inline Error sql_error(sqlite3* db, const std::string& what) {
  return Error{ErrorKind::kIo, what + ": " + (db ? sqlite3_errmsg(db) : "out of memory"),
               "check the state directory's disk and permissions"};
}

// One prepared statement; binds by position, reads columns by position.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) stmt_ = nullptr;
  }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  bool ok() const { return stmt_ != nullptr; }

  using Value = std::variant<std::monostate, int64_t, std::string>;
  Stmt& bind(std::initializer_list<Value> values) {
    int i = 1;
    for (const auto& v : values) {
      if (std::holds_alternative<std::monostate>(v))
        sqlite3_bind_null(stmt_, i);
      else if (auto* n = std::get_if<int64_t>(&v))
        sqlite3_bind_int64(stmt_, i, *n);
      else {
        const auto& s = std::get<std::string>(v);
        sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
      }
      ++i;
    }
    return *this;
  }
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int step() { return sqlite3_step(stmt_); }
  // Ready to bind and run again.
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  int64_t i64(int col) const { return sqlite3_column_int64(stmt_, col); }
  bool null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::string text(int col) const {
    auto* p = sqlite3_column_text(stmt_, col);
    return p ? std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(stmt_, col)) : "";
  }
  std::optional<std::string> opt_text(int col) const {
    return null(col) ? std::nullopt : std::optional(text(col));
  }
  std::optional<int64_t> opt_i64(int col) const {
    return null(col) ? std::nullopt : std::optional(i64(col));
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

inline Stmt::Value opt(const std::optional<std::string>& s) {
  return s ? Stmt::Value(*s) : Stmt::Value{};
}
inline Stmt::Value opt(const std::optional<int64_t>& n) {
  return n ? Stmt::Value(*n) : Stmt::Value{};
}
inline Stmt::Value opt(const std::optional<int>& n) {
  return n ? Stmt::Value(static_cast<int64_t>(*n)) : Stmt::Value{};
}

inline Status exec(sqlite3* db, const char* sql, const std::string& what) {
  char* msg = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
    std::string m = msg ? msg : "?";
    sqlite3_free(msg);
    return fail(ErrorKind::kIo, what + ": " + m);
  }
  return {};
}

// BEGIN IMMEDIATE ... COMMIT, rolled back unless committed.
class Transaction {
 public:
  explicit Transaction(sqlite3* db) : db_(db) {
    ok_ = sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK;
  }
  ~Transaction() {
    if (ok_ && !done_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  bool ok() const { return ok_; }
  Status commit() {
    done_ = true;
    if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
      return tl::unexpected(sql_error(db_, "commit"));
    }
    return {};
  }

 private:
  sqlite3* db_;
  bool ok_ = false, done_ = false;
};

}  // namespace tvd::store::sql
