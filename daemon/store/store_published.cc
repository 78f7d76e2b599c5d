// What the store remembers of each variant for the engine: what it published last, per
// organisation (schema/004), and whether it still fails for good (schema/005).
#include "daemon/store/sql.h"
#include "daemon/store/store.h"

namespace tvd::store {

Status Store::record_published(const std::string& variant, const std::string& org,
                               const std::string& output, int64_t job_id, int64_t at) {
  sql::Stmt s(db_,
              "INSERT INTO published (variant, org, output, job_id, published_at)"
              " VALUES (?,?,?,?,?) ON CONFLICT(variant, org) DO UPDATE SET"
              " output=excluded.output, job_id=excluded.job_id,"
              " published_at=excluded.published_at");
  s.bind({variant, org, output, job_id, at});
  if (s.step() != SQLITE_DONE) {
    return tl::unexpected(sql::sql_error(db_, "record what " + variant + " published"));
  }
  return {};
}

Result<std::map<std::string, std::string>> Store::published_outputs(const std::string& org) const {
  sql::Stmt s(db_, "SELECT variant, output FROM published WHERE org = ?");
  s.bind({org});
  std::map<std::string, std::string> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW)
    out.emplace(s.text(0), s.text(1));
  if (rc != SQLITE_DONE) return tl::unexpected(sql::sql_error(db_, "read published outputs"));
  return out;
}

Result<std::map<std::string, std::pair<std::string, std::string>>> Store::still_failing() const {
  sql::Stmt s(db_,
              "SELECT j.variant, j.fingerprint, j.error FROM jobs j"
              " JOIN (SELECT variant, MAX(id) AS id FROM jobs GROUP BY variant) newest"
              " ON newest.id = j.id WHERE j.state = 'failed' AND j.fingerprint IS NOT NULL");
  std::map<std::string, std::pair<std::string, std::string>> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW)
    out.emplace(s.text(0), std::pair{s.text(1), s.text(2)});
  if (rc != SQLITE_DONE) return tl::unexpected(sql::sql_error(db_, "read still-failing variants"));
  return out;
}

}  // namespace tvd::store
