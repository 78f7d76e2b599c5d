// The git lane's transactions as Asio coroutines: each step awaits its git and reads on in order,
// and a refusal is a `co_return` of what to tell the job. Private to daemon/flox (git_lane.cc,
// git_lane_publish.cc): Asio stays out of git_lane.h, which the engine includes.
#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <memory>
#include <optional>

#include "daemon/flox/git_lane.h"
#include "daemon/flox/git_status.h"

namespace tvd::flox {

namespace asio = boost::asio;

// A step's refusal (the transaction ends with it), or nullopt to go on.
using Stop = std::optional<LaneOutcome>;

struct GitLane::Flows {
  // Queues `flow` as a transaction of `lane` (`first`: ahead of the waiting ones); `done` gets
  // what it returns, then the next transaction starts. An exception in a flow is a bug and goes
  // up to the daemon's main, as every exception does.
  template <class T>
  static void transact(GitLane& lane, std::function<asio::awaitable<T>()> flow,
                       std::function<void(T)> done, bool first = false) {
    lane.enqueue(
        [&lane, flow = std::move(flow), done = std::move(done)]() mutable {
          asio::co_spawn(lane.io_, flow(),
                         [&lane, done = std::move(done)](std::exception_ptr e, T result) {
                           if (e) std::rethrow_exception(e);
                           done(std::move(result));
                           lane.run_next();
                         });
        },
        first);
  }

  // git ARGS... in the checkout, or in `dir`, awaited. (Arguments, not a braced list: GCC 12
  // cannot keep an initializer list's array in a coroutine's frame.)
  template <class... Args>
  static asio::awaitable<exec::RunResult> git(GitLane& lane, Args&&... args) {
    return git_in(lane, lane.config_.env_dir, std::forward<Args>(args)...);
  }
  template <class... Args>
  static asio::awaitable<exec::RunResult> git_in(GitLane& lane, std::filesystem::path dir,
                                                 Args&&... args) {
    std::vector<std::string> argv;
    (argv.emplace_back(std::forward<Args>(args)), ...);
    return git_argv_in(lane, std::move(dir), std::move(argv));
  }
  // git with an argument list made at run time, in the checkout.
  static asio::awaitable<exec::RunResult> git_argv(GitLane& lane, std::vector<std::string> argv) {
    return git_argv_in(lane, lane.config_.env_dir, std::move(argv));
  }
  static asio::awaitable<exec::RunResult> git_argv_in(GitLane& lane, std::filesystem::path dir,
                                                      std::vector<std::string> argv) {
    return asio::async_initiate<const asio::use_awaitable_t<>&, void(exec::RunResult)>(
        [&lane, dir = std::move(dir), argv = std::move(argv)](auto handler) mutable {
          // The runner keeps a copyable function; the coroutine's handler can only be moved.
          auto h = std::make_shared<decltype(handler)>(std::move(handler));
          lane.start_git(dir, std::move(argv), [h](const exec::RunResult& r) { (*h)(r); });
        },
        asio::use_awaitable);
  }

  // Who commits: the checkout's own identity, or tvd's when it has none (asked once).
  static asio::awaitable<void> check_identity(GitLane& lane);
  // git push, when every commit ahead of the upstream is one tvd made (else it refuses, naming
  // the others and what to do); when the upstream moved, fetch, rebase tvd's commits onto it,
  // and push again. A conflict refuses with what to do.
  static asio::awaitable<Stop> push(GitLane& lane);
  // Refuses, naming them, when a commit ahead of the upstream is not one tvd made.
  static asio::awaitable<Stop> unpushed_are_ours(GitLane& lane);
  // git commit of `paths` alone with `message`; the commit's id is remembered as tvd's.
  static asio::awaitable<exec::RunResult> commit_ours(GitLane& lane, std::string message,
                                                      std::vector<std::string> paths);
  // "result-*" in the environment's .gitignore, committed alone, unless it is there already.
  static asio::awaitable<Stop> ignore_results(GitLane& lane);
  static asio::awaitable<LaneOutcome> commit(GitLane& lane, RecipeFile recipe, std::string message);
  // commit() as a job's transaction: nothing when the job was cancelled while it waited; the
  // package is the lane's `committing_` while it runs (cancel_commit()).
  static asio::awaitable<LaneOutcome> commit_job(GitLane& lane, RecipeFile recipe,
                                                 std::string message);
  static asio::awaitable<std::vector<std::string>> recover(GitLane& lane,
                                                           std::vector<RecipeFile> ours);

  // A publish's part in the lane: flox publish's checks, a push of an unpushed HEAD, the
  // revision to publish, and slot's worktree put at it.
  struct Prepared {
    Stop stop;        // refused
    std::string rev;  // else: what the worktree holds
  };
  static asio::awaitable<Prepared> prepare_publish(GitLane& lane, std::string package,
                                                   std::string pinned_rev, size_t slot);
  // At start: every worktree under config_.worktrees and every tvd-publish/ branch goes, whatever
  // left them (a git killed during `worktree add` leaves one locked; a tvd before slots left one
  // per package); slots are made again when a publish needs them.
  static asio::awaitable<void> clean_worktrees(GitLane& lane);
  // Puts slot's worktree at `rev`, its branch tracking `upstream`.
  static asio::awaitable<Stop> prepare_worktree(GitLane& lane, size_t slot, std::string rev,
                                                std::string upstream);
};

}  // namespace tvd::flox
