// The store's SQLite helpers, shared by its files (store.cc, variant_history.cc): one prepared
// statement, one transaction, errors that say what to check. Not for use outside daemon/store.
#pragma once

#include <sqlite3.h>

#include <optional>
#include <string>
#include <variant>

#include "daemon/base/file.h"
#include "daemon/base/names.h"
#include "daemon/base/result.h"
#include "daemon/base/units.h"
#include "proto/job.h"

namespace tvd::store::sql {

// What failed, in which file, and what to do about it.
inline Error sql_error(sqlite3* db, const std::string& what) {
  if (!db) return Error{ErrorKind::kIo, what + ": out of memory", ""};
  const char* name = sqlite3_db_filename(db, "main");
  const std::string file = name && *name ? name : "the database";
  std::string hint = "check the state directory's disk and permissions";
  ErrorKind kind = ErrorKind::kIo;
  switch (sqlite3_errcode(db) & 0xff) {
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
      kind = ErrorKind::kInternal;  // what was written is wrong, not the disk: a bug in tvd
      hint = "a bug in tvd: please report it with this message";
      break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      hint = "another process holds a write transaction on " + file + " ('fuser -v " + file +
             "' names it); tvd writes again once it lets go";
      break;
    case SQLITE_FULL:
      hint = "the disk that holds " + file + " is full; free space there";
      break;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_CANTOPEN:
      hint = "tvd cannot write " + file + ": check its owner and permissions";
      break;
    default:
      break;
  }
  std::string message = what + " in " + file + ": " + sqlite3_errmsg(db);
  // SQLite says "disk I/O error" when it cannot make its -shm or -wal on a full disk.
  const int code = sqlite3_errcode(db) & 0xff;
  if (code == SQLITE_IOERR || code == SQLITE_FULL || code == SQLITE_CANTOPEN) {
    const auto dir = std::filesystem::path(file).parent_path();
    if (auto free = free_disk(dir.empty() ? "." : dir); free && *free < (1u << 20)) {
      message += " (its disk is full: " + format_size(*free) + " free)";
      hint = "free space on the disk that holds " + file + ", then start tvd again";
    }
  }
  return Error{kind, message, hint};
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

  using Value = std::variant<std::monostate, int64_t, double, std::string>;
  Stmt& bind(std::initializer_list<Value> values) {
    int i = 1;
    for (const auto& v : values) {
      if (std::holds_alternative<std::monostate>(v))
        sqlite3_bind_null(stmt_, i);
      else if (auto* n = std::get_if<int64_t>(&v))
        sqlite3_bind_int64(stmt_, i, *n);
      else if (auto* d = std::get_if<double>(&v))
        sqlite3_bind_double(stmt_, i, *d);
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
  double f64(int col) const { return sqlite3_column_double(stmt_, col); }
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
inline Stmt::Value opt(const std::optional<double>& d) {
  return d ? Stmt::Value(*d) : Stmt::Value{};
}
inline Stmt::Value opt(const std::optional<int>& n) {
  return n ? Stmt::Value(static_cast<int64_t>(*n)) : Stmt::Value{};
}

inline Status exec(sqlite3* db, const char* sql, const std::string& what) {
  char* msg = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
    sqlite3_free(msg);
    return tl::unexpected(sql_error(db, what));  // SQLite's message, with what to check
  }
  return {};
}

// BEGIN IMMEDIATE ... COMMIT, rolled back unless committed.
// One transaction, or inside one already open (a command's), a savepoint: the inner changes are
// kept or undone together, and the outer transaction decides.
class Transaction {
 public:
  explicit Transaction(sqlite3* db) : db_(db), nested_(sqlite3_get_autocommit(db) == 0) {
    ok_ = sqlite3_exec(db, nested_ ? "SAVEPOINT inner" : "BEGIN IMMEDIATE", nullptr, nullptr,
                       nullptr) == SQLITE_OK;
  }
  ~Transaction() {
    if (!ok_ || done_) return;
    sqlite3_exec(db_, nested_ ? "ROLLBACK TO inner; RELEASE inner" : "ROLLBACK", nullptr, nullptr,
                 nullptr);
  }
  bool ok() const { return ok_; }
  Status commit() {
    done_ = true;
    if (sqlite3_exec(db_, nested_ ? "RELEASE inner" : "COMMIT", nullptr, nullptr, nullptr) !=
        SQLITE_OK) {
      auto e = sql_error(db_, "commit");
      if (!nested_ && sqlite3_get_autocommit(db_) == 0) {
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);  // a failed COMMIT stays open
      }
      return tl::unexpected(e);
    }
    return {};
  }

 private:
  sqlite3* db_;
  bool nested_ = false;
  bool ok_ = false, done_ = false;
};

// Enums to and from the store's text, through their names tables (proto/job.h). The schema's
// CHECKs allow only the tables' names, so `fallback` is for a row written by hand.
template <typename Enum, size_t N>
std::string name(const Names<Enum, N>& table, Enum e) {
  return std::string(table.name(e));
}
template <typename Enum, size_t N>
Enum parse(const Names<Enum, N>& table, const std::string& text, Enum fallback) {
  return table.parse(text).value_or(fallback);
}
// A failure class: '' (or NULL) in the table for none; a class this binary does not know is
// kUnknown.
inline std::string failure_text(proto::Failure f) {
  return f == proto::Failure::kNone ? "" : name(proto::kFailures, f);
}
inline proto::Failure failure_from(const std::string& text) {
  return text.empty() ? proto::Failure::kNone
                      : proto::kFailures.parse(text).value_or(proto::Failure::kUnknown);
}

}  // namespace tvd::store::sql
