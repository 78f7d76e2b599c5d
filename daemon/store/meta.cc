// The store's own settings (store_meta, schema/007_learned.sql): a key and its text.
#include "daemon/store/sql.h"
#include "daemon/store/store.h"

namespace tvd::store {

using namespace sql;

Result<std::optional<std::string>> Store::meta(const std::string& key) const {
  Stmt s(db_, "SELECT value FROM store_meta WHERE key = ?");
  s.bind({key});
  int rc = s.step();
  if (rc == SQLITE_ROW) return std::optional<std::string>(s.text(0));
  if (rc != SQLITE_DONE) return tl::unexpected(sql_error(db_, "read store_meta"));
  return std::optional<std::string>();
}

Status Store::set_meta(const std::string& key, const std::optional<std::string>& value) {
  Stmt s(db_, value ? "INSERT OR REPLACE INTO store_meta (key, value) VALUES (?, ?)"
                    : "DELETE FROM store_meta WHERE key = ?");
  if (value) {
    s.bind({key, *value});
  } else {
    s.bind({key});
  }
  if (s.step() != SQLITE_DONE) return tl::unexpected(sql_error(db_, "write store_meta"));
  return {};
}

}  // namespace tvd::store
