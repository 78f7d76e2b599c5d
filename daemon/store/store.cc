#include "daemon/store/store.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <system_error>
#include <utility>
#include <variant>

#include "daemon/base/file.h"
#include "daemon/base/units.h"
#include "daemon/store/job_rows.h"
#include "daemon/store/sql.h"
#include "schema/migrations.h"

namespace tvd::store {

using sql::exec;
using sql::opt;
using sql::sql_error;
using sql::Stmt;
using sql::Transaction;

Store::Store(Store&& o) noexcept
    : db_(std::exchange(o.db_, nullptr)),
      file_(std::move(o.file_)),
      dev_(o.dev_),
      ino_(o.ino_),
      busy_(o.busy_) {}
Store& Store::operator=(Store&& o) noexcept {
  if (this != &o) {
    if (db_) sqlite3_close(db_);
    db_ = std::exchange(o.db_, nullptr);
    file_ = std::move(o.file_);
    dev_ = o.dev_;
    ino_ = o.ino_;
    busy_ = o.busy_;
  }
  return *this;
}
Store::~Store() {
  if (db_) sqlite3_close(db_);
}

int Store::latest_version() {
  return static_cast<int>(schema::migrations().size());
}

int Store::schema_version() const {
  Stmt s(db_, "PRAGMA user_version");
  return s.step() == SQLITE_ROW ? static_cast<int>(s.i64(0)) : -1;
}

Result<Store> Store::open(const std::filesystem::path& file) {
  std::error_code ec;
  if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path(), ec);
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(file.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  Store store(raw);
  if (rc != SQLITE_OK) {
    return fail(ErrorKind::kIo,
                "cannot open the database " + file.string() + ": " +
                    (raw ? sqlite3_errmsg(raw) : "out of memory"),
                "check that state_dir exists and is writable by tvd");
  }
  sqlite3_busy_timeout(raw, 5000);
  if (auto st =
          exec(raw, "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL;",
               "opening the store");
      !st) {
    return tl::unexpected(st.error());
  }
  const int have = store.schema_version();
  const int want = latest_version();
  if (have > want) {
    return fail(ErrorKind::kConflict,
                file.string() + " has schema version " + std::to_string(have) +
                    ", newer than the " + std::to_string(want) + " this tvd knows",
                "run the tvd that wrote it, or a newer one; nothing was changed");
  }
  if (have < want) {
    // A migration may make its tables again, and the WAL holds every new page until the commit:
    // about twice the store, checked before anything changes (a disk that fills half way would
    // fail it all the same, but later).
    std::error_code size_ec;
    uint64_t size = 0;
    for (const auto& part : {file, std::filesystem::path(file.string() + "-wal")}) {
      const auto n = std::filesystem::file_size(part, size_ec);
      if (!size_ec) size += n;
    }
    const uint64_t need = 2 * size + (8ull << 20);
    const auto dir = file.has_parent_path() ? file.parent_path() : std::filesystem::path(".");
    if (auto free = free_disk(dir); free && *free < need) {
      return fail(ErrorKind::kIo,
                  "migrating " + file.string() + " (" + format_size(size) + ") from schema " +
                      std::to_string(have) + " to " + std::to_string(want) + " needs about " +
                      format_size(need) + " free on its disk, and " + format_size(*free) +
                      " is free",
                  "free " + format_size(need - *free) + " or more on the disk that holds " +
                      dir.string() + ", then start tvd again; nothing was changed");
    }
  }
  // Migrations may make a table again (create, copy, drop, rename), which SQLite asks to do with
  // foreign keys off; they are all checked before the migrations commit. All of them are one
  // transaction: a store is at the schema it was or at the newest, never in between (which the
  // previous release would refuse as newer than it knows).
  const auto& all = schema::migrations();
  if (have < want) {
    TRY(exec(raw, "PRAGMA foreign_keys=OFF", "migrations"));
    Transaction t(raw);
    if (!t.ok()) return tl::unexpected(sql_error(raw, "migrations"));
    for (int v = have; v < want; ++v) {
      const std::string name = "migration " + std::string(all[v].name);
      std::string sql(all[v].sql);
      sql += "\nPRAGMA user_version = " + std::to_string(v + 1) + ";";
      TRY(exec(raw, sql.c_str(), name));
      Stmt check(raw, "PRAGMA foreign_key_check");
      if (const int found = check.step(); found == SQLITE_ROW) {
        return fail(ErrorKind::kConflict,
                    name + " of " + file.string() + " would leave a row of " + check.text(0) +
                        " referring to a missing row of " + check.text(2),
                    "nothing was changed; keep this store and report it with a copy of it");
      } else if (found != SQLITE_DONE) {
        return tl::unexpected(sql_error(raw, name));
      }
    }
    TRY(t.commit());
  }
  if (have < want) TRY(exec(raw, "PRAGMA foreign_keys=ON", "migrations"));
  store.file_ = file;
  struct stat st {};
  if (::stat(file.c_str(), &st) == 0) {
    store.dev_ = st.st_dev;
    store.ino_ = st.st_ino;
  }
  return store;
}

void Store::set_busy_timeout(std::chrono::milliseconds wait) {
  busy_ = wait;
  sqlite3_busy_timeout(db_, static_cast<int>(wait.count()));
}

Store::FileState Store::file_state() const {
  if (file_.empty() || ino_ == 0) return FileState::kSame;  // nothing known to compare
  struct stat st {};
  if (::stat(file_.c_str(), &st) != 0) return FileState::kDeleted;
  return st.st_dev == dev_ && st.st_ino == ino_ ? FileState::kSame : FileState::kReplaced;
}

Status Store::write_back() {
  std::error_code ec;
  std::filesystem::create_directories(file_.parent_path(), ec);
  const std::filesystem::path part = file_.string() + ".writing";
  std::filesystem::remove(part, ec);
  {
    Stmt s(db_, "VACUUM INTO ?");
    s.bind({part.string()});
    if (s.step() != SQLITE_DONE) return tl::unexpected(sql_error(db_, "write the store back"));
  }
  // Not over a file someone put there meanwhile.
  if (std::filesystem::exists(file_, ec)) {
    return fail(ErrorKind::kConflict,
                "the store's file " + file_.string() + " came back while tvd wrote it again",
                "tvd's copy is " + part.string() + "; stop tvd and choose which one to keep");
  }
  std::filesystem::rename(part, file_, ec);
  if (ec) {
    return fail(ErrorKind::kIo,
                "cannot put the store back at " + file_.string() + ": " + ec.message(),
                "check the state directory's disk and permissions");
  }
  TRY_ASSIGN(auto again, open(file_));
  const auto busy = busy_;
  *this = std::move(again);
  set_busy_timeout(busy);
  return {};
}

Status Store::atomically(const std::function<Status()>& body) {
  Transaction t(db_);
  if (!t.ok()) return tl::unexpected(sql_error(db_, "begin"));
  TRY(body());
  return t.commit();
}

Status Store::sync_variants(const std::vector<VariantRow>& current, int64_t now) {
  Transaction t(db_);
  if (!t.ok()) return tl::unexpected(sql_error(db_, "sync variants"));
  if (auto st = exec(db_, "UPDATE variants SET in_matrix = 2 WHERE in_matrix = 1", "sync"); !st) {
    return st;
  }
  Stmt up(
      db_,
      "INSERT INTO variants (environment, package, python, cuda, gpu_arch, cpu_isa, kind, excluded,"
      " in_matrix, recipe_source, template_hash, updated_at) VALUES (?,?,?,?,?,?,?,?,1,?,?,?)"
      " ON CONFLICT(environment, package) DO UPDATE SET python=excluded.python, cuda=excluded.cuda,"
      " gpu_arch=excluded.gpu_arch, cpu_isa=excluded.cpu_isa, kind=excluded.kind,"
      " excluded=excluded.excluded, in_matrix=1,"
      " recipe_source=coalesce(excluded.recipe_source, variants.recipe_source),"
      " template_hash=coalesce(excluded.template_hash, variants.template_hash),"
      " updated_at=excluded.updated_at");
  for (const auto& v : current) {
    up.bind({v.environment, v.package, v.python, opt(v.cuda), opt(v.gpu_arch), v.cpu_isa, v.kind,
             opt(v.excluded), opt(v.recipe_source), opt(v.template_hash), now});
    if (up.step() != SQLITE_DONE)
      return tl::unexpected(
          sql_error(db_, "sync variant " + VariantKey{v.environment, v.package}.text()));
    up.reset();
  }
  if (auto st = exec(db_, "UPDATE variants SET in_matrix = 0 WHERE in_matrix = 2", "retire"); !st) {
    return st;
  }
  return t.commit();
}

Status Store::add_variant(const VariantRow& v, int64_t now) {
  Stmt s(db_,
         "INSERT INTO variants (environment, package, python, cuda, gpu_arch, cpu_isa, kind,"
         " excluded, in_matrix, recipe_source, template_hash, updated_at)"
         " VALUES (?,?,?,?,?,?,?,?,0,?,?,?) ON CONFLICT(environment, package) DO NOTHING");
  s.bind({v.environment, v.package, v.python, opt(v.cuda), opt(v.gpu_arch), v.cpu_isa, v.kind,
          opt(v.excluded), opt(v.recipe_source), opt(v.template_hash), now});
  if (s.step() != SQLITE_DONE) {
    return tl::unexpected(
        sql_error(db_, "add variant " + VariantKey{v.environment, v.package}.text()));
  }
  return {};
}

Result<std::vector<VariantRow>> Store::variants() const {
  Stmt s(
      db_,
      "SELECT package, python, cuda, gpu_arch, cpu_isa, kind, excluded, in_matrix, recipe_source,"
      " template_hash, environment FROM variants ORDER BY environment, package");
  std::vector<VariantRow> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    VariantRow v;
    v.package = s.text(0);
    v.python = s.text(1);
    v.cuda = s.opt_text(2);
    v.gpu_arch = s.opt_text(3);
    v.cpu_isa = s.text(4);
    v.kind = s.text(5);
    v.excluded = s.opt_text(6);
    v.in_matrix = s.i64(7) == 1;
    v.recipe_source = s.opt_text(8);
    v.template_hash = s.opt_text(9);
    v.environment = s.text(10);
    out.push_back(std::move(v));
  }
  if (rc != SQLITE_DONE) return tl::unexpected(sql_error(db_, "read variants"));
  return out;
}

Status Store::save_job(const JobRow& j, const std::vector<AttemptRow>& attempts) {
  Transaction t(db_);
  if (!t.ok()) return tl::unexpected(sql_error(db_, "save job"));
  {
    Stmt s(db_,
           "INSERT INTO jobs (id, environment, package, state, phase, origin, priority, publish,"
           " batch_id, built, build_tries, publish_tries, failure, error, enqueued_at, started_at,"
           " finished_at, output, published_to, note, publish_rev, fingerprint)"
           " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
           " ON CONFLICT(id) DO UPDATE SET state=excluded.state, phase=excluded.phase,"
           " priority=excluded.priority, publish=excluded.publish, built=excluded.built,"
           " build_tries=excluded.build_tries, publish_tries=excluded.publish_tries,"
           " failure=excluded.failure, error=excluded.error, started_at=excluded.started_at,"
           " finished_at=excluded.finished_at, output=excluded.output,"
           " published_to=excluded.published_to, note=excluded.note,"
           " publish_rev=excluded.publish_rev, fingerprint=excluded.fingerprint");
    s.bind({j.id,
            j.environment,
            j.package,
            sql::name(proto::kJobStates, j.state),
            sql::name(proto::kJobPhases, j.phase),
            sql::name(proto::kOrigins, j.origin),
            static_cast<int64_t>(j.priority),
            static_cast<int64_t>(j.publish),
            opt(j.batch_id),
            static_cast<int64_t>(j.built),
            static_cast<int64_t>(j.build_tries),
            static_cast<int64_t>(j.publish_tries),
            sql::failure_text(j.failure),
            j.error,
            j.enqueued_at,
            opt(j.started_at),
            opt(j.finished_at),
            opt(j.output),
            opt(j.published_to),
            j.note,
            opt(j.publish_rev),
            opt(j.fingerprint)});
    if (s.step() != SQLITE_DONE)
      return tl::unexpected(sql_error(db_, "save job " + std::to_string(j.id)));
  }
  for (const auto& a : attempts) {
    Stmt s(db_,
           "INSERT INTO attempts (job_id, number, phase, started_at, ended_at, outcome, exit_code,"
           " signal, failure, reason, log_path, peak_memory, pgid, builder)"
           " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
           " ON CONFLICT(job_id, number) DO UPDATE SET ended_at=excluded.ended_at,"
           " outcome=excluded.outcome, exit_code=excluded.exit_code, signal=excluded.signal,"
           " failure=excluded.failure, reason=excluded.reason, peak_memory=excluded.peak_memory,"
           " pgid=excluded.pgid, builder=excluded.builder");
    s.bind({a.job_id, static_cast<int64_t>(a.number), sql::name(proto::kJobPhases, a.phase),
            a.started_at, opt(a.ended_at),
            a.outcome ? Stmt::Value(sql::name(proto::kAttemptOutcomes, *a.outcome)) : Stmt::Value{},
            opt(a.exit_code), opt(a.signal), sql::failure_text(a.failure), a.reason, a.log_path,
            opt(a.peak_memory), opt(a.pgid), a.builder ? Stmt::Value(*a.builder) : Stmt::Value{}});
    if (s.step() != SQLITE_DONE) return tl::unexpected(sql_error(db_, "save attempt"));
  }
  // What was published is recorded with the job's success, in the same transaction.
  if (j.state == proto::JobState::kSucceeded && j.published_to && j.output) {
    if (auto st = record_published({j.environment, j.package}, *j.published_to, *j.output, j.id,
                                   j.finished_at.value_or(j.enqueued_at));
        !st)
      return st;
  }
  return t.commit();
}

Result<std::vector<JobRow>> Store::active_jobs() const {
  std::string sql = std::string("SELECT ") + kJobColumns +
                    " FROM jobs WHERE state IN ('queued','building','publishing') ORDER BY id";
  Stmt s(db_, sql.c_str());
  std::vector<JobRow> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW)
    out.push_back(read_job(s));
  if (rc != SQLITE_DONE) return tl::unexpected(sql_error(db_, "read active jobs"));
  return out;
}

Result<std::optional<JobRow>> Store::job(int64_t id) const {
  std::string sql = std::string("SELECT ") + kJobColumns + " FROM jobs WHERE id = ?";
  Stmt s(db_, sql.c_str());
  s.bind({id});
  int rc = s.step();
  if (rc == SQLITE_ROW) return std::optional<JobRow>(read_job(s));
  if (rc == SQLITE_DONE) return std::optional<JobRow>();
  return tl::unexpected(sql_error(db_, "read job"));
}

Result<int64_t> Store::max_job_id() const {
  Stmt s(db_, "SELECT coalesce(max(id), 0) FROM jobs");
  if (s.step() != SQLITE_ROW) return tl::unexpected(sql_error(db_, "read max job id"));
  return s.i64(0);
}

Result<std::string> Store::integrity_check() const {
  Stmt s(db_, "PRAGMA integrity_check");
  if (s.step() != SQLITE_ROW) return tl::unexpected(sql_error(db_, "integrity check"));
  return s.text(0);
}

Result<std::map<VariantKey, JobRow>> Store::last_jobs() const {
  std::string sql = std::string("SELECT ") + kJobColumns +
                    " FROM jobs WHERE id IN (SELECT job_id FROM variant_last_job)";
  Stmt s(db_, sql.c_str());
  std::map<VariantKey, JobRow> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    auto j = read_job(s);
    VariantKey key{j.environment, j.package};
    out.emplace(std::move(key), std::move(j));
  }
  if (rc != SQLITE_DONE) return tl::unexpected(sql_error(db_, "read the newest jobs"));
  return out;
}

Result<std::vector<JobRow>> Store::variant_jobs(const VariantKey& variant, int limit) const {
  std::string sql = std::string("SELECT ") + kJobColumns +
                    " FROM jobs WHERE environment = ? AND package = ? ORDER BY id DESC LIMIT ?";
  Stmt s(db_, sql.c_str());
  s.bind({variant.environment, variant.package, static_cast<int64_t>(limit)});
  std::vector<JobRow> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW)
    out.push_back(read_job(s));
  if (rc != SQLITE_DONE) return tl::unexpected(sql_error(db_, "read a variant's jobs"));
  return out;
}

Result<std::map<std::string, int64_t>> Store::job_counts() const {
  TRY_ASSIGN(auto by_environment, job_counts_by_environment());
  std::map<std::string, int64_t> out;
  for (const auto& [key, n] : by_environment)
    out[key.second] += n;
  return out;
}

Result<std::map<std::pair<std::string, std::string>, int64_t>> Store::job_counts_by_environment()
    const {
  Stmt s(db_, "SELECT environment, state, n FROM job_state_counts WHERE n > 0");
  std::map<std::pair<std::string, std::string>, int64_t> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW)
    out[{s.text(0), s.text(1)}] = s.i64(2);
  if (rc != SQLITE_DONE) return tl::unexpected(sql_error(db_, "count jobs"));
  return out;
}

}  // namespace tvd::store
