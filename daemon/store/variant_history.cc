// What the store says of each variant's history: its recent and failing jobs (for status), what
// it published last per organisation (schema/004), whether it still fails for good (schema/005).
#include "daemon/store/job_rows.h"
#include "daemon/store/sql.h"
#include "daemon/store/store.h"

namespace tvd::store {

Status Store::record_published(const VariantKey& variant, const std::string& org,
                               const std::string& output, int64_t job_id, int64_t at) {
  sql::Stmt s(db_,
              "INSERT INTO published (environment, package, org, output, job_id, published_at)"
              " VALUES (?,?,?,?,?,?) ON CONFLICT(environment, package, org) DO UPDATE SET"
              " output=excluded.output, job_id=excluded.job_id,"
              " published_at=excluded.published_at");
  s.bind({variant.environment, variant.package, org, output, job_id, at});
  if (s.step() != SQLITE_DONE) {
    return tl::unexpected(sql::sql_error(db_, "record what " + variant.text() + " published"));
  }
  return {};
}

Result<std::map<VariantKey, std::string>> Store::published_outputs(const std::string& org) const {
  sql::Stmt s(db_, "SELECT environment, package, output FROM published WHERE org = ?");
  s.bind({org});
  std::map<VariantKey, std::string> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW)
    out.emplace(VariantKey{s.text(0), s.text(1)}, s.text(2));
  if (rc != SQLITE_DONE) return tl::unexpected(sql::sql_error(db_, "read published outputs"));
  return out;
}

Result<std::map<VariantKey, std::pair<std::string, std::string>>> Store::still_failing() const {
  sql::Stmt s(db_,
              "SELECT j.environment, j.package, j.fingerprint, j.error FROM jobs j"
              " JOIN variant_last_job newest"
              " ON newest.job_id = j.id WHERE j.state = 'failed' AND j.fingerprint IS NOT NULL");
  std::map<VariantKey, std::pair<std::string, std::string>> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW)
    out.emplace(VariantKey{s.text(0), s.text(1)}, std::pair{s.text(2), s.text(3)});
  if (rc != SQLITE_DONE) return tl::unexpected(sql::sql_error(db_, "read still-failing variants"));
  return out;
}

Result<std::vector<JobRow>> Store::recent_jobs(int finished) const {
  std::string sql =
      std::string("SELECT ") + kJobColumns +
      " FROM jobs WHERE state IN ('queued','building','publishing') UNION ALL"
      " SELECT * FROM (SELECT " +
      kJobColumns +
      " FROM jobs WHERE finished_at IS NOT NULL ORDER BY finished_at DESC, id DESC LIMIT ?)";
  sql::Stmt s(db_, sql.c_str());
  s.bind({static_cast<int64_t>(finished)});
  std::vector<JobRow> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW)
    out.push_back(read_job(s));
  if (rc != SQLITE_DONE) return tl::unexpected(sql::sql_error(db_, "read recent jobs"));
  return out;
}

Result<std::vector<JobRow>> Store::failing_jobs() const {
  const std::string query = std::string("SELECT ") + kJobColumns +
                            " FROM jobs WHERE id IN (SELECT job_id FROM variant_last_job)"
                            " AND state = 'failed' ORDER BY id DESC";
  sql::Stmt s(db_, query.c_str());
  std::vector<JobRow> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW)
    out.push_back(read_job(s));
  if (rc != SQLITE_DONE) return tl::unexpected(sql::sql_error(db_, "read failing jobs"));
  return out;
}

}  // namespace tvd::store
