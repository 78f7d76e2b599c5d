#include "daemon/exec/capture.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/close_range.h>
#include <boost/asio.hpp>
#include <boost/process/v2.hpp>
#include <csignal>
#include <memory>

#include "daemon/exec/child_setup.h"
#include "daemon/exec/host.h"

namespace tvd::exec {

namespace {

namespace asio = boost::asio;
namespace bp = boost::process::v2;

struct Job : std::enable_shared_from_this<Job> {
  explicit Job(asio::io_context& io) : out_pipe(io), err_pipe(io), timer(io) {}
  asio::readable_pipe out_pipe, err_pipe;
  asio::steady_timer timer;
  std::unique_ptr<bp::process> proc;
  Captured* result = nullptr;
  size_t limit = 0;
  int open_streams = 2;
  std::function<void()> finished;
  char out_buf[16384], err_buf[16384];

  void read(asio::readable_pipe& pipe, char* buf, std::string& into) {
    pipe.async_read_some(asio::buffer(buf, sizeof out_buf),
                         [self = shared_from_this(), &pipe, buf, &into](auto ec, size_t n) {
                           if (into.size() < self->limit) into.append(buf, n);
                           if (ec) {
                             if (--self->open_streams == 0) self->reap();
                             return;
                           }
                           self->read(pipe, buf, into);
                         });
  }

  void reap() {
    timer.cancel();
    int status = 0;
    pid_t pid = proc->id();
    proc->detach();
    ::waitpid(pid, &status, 0);
    result->exit_code = WIFEXITED(status)     ? WEXITSTATUS(status)
                        : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
                                              : -1;
    finished();
  }
};

}  // namespace

std::vector<Captured> capture_all(const std::vector<std::vector<std::string>>& commands,
                                  const std::map<std::string, std::string>& env, unsigned parallel,
                                  std::chrono::seconds timeout, size_t limit) {
  std::vector<Captured> results(commands.size());
  asio::io_context io;
  std::vector<std::string> env_list;
  std::vector<bp::environment::key_value_pair> env_pairs;
  for (const auto& [k, v] : env) {
    env_list.push_back(k + "=" + v);
    env_pairs.emplace_back(k + "=" + v);
  }
  size_t next = 0;
  unsigned running = 0;
  std::function<void()> launch = [&] {
    while (running < std::max(1u, parallel) && next < commands.size()) {
      const size_t i = next++;
      const auto& argv = commands[i];
      Captured& r = results[i];
      if (argv.empty()) {
        r.err = "nothing to run";
        continue;
      }
      bp::filesystem::path exe = argv[0];
      if (argv[0].find('/') == std::string::npos)
        exe = bp::environment::find_executable(argv[0], env_pairs);
      if (exe.empty() || ::access(exe.c_str(), X_OK) != 0) {
        r.err = "cannot execute '" + argv[0] + "': not found or not executable";
        continue;
      }
      auto job = std::make_shared<Job>(io);
      job->result = &r;
      job->limit = limit;
      asio::writable_pipe out_w(io), err_w(io);
      boost::system::error_code ec;
      asio::connect_pipe(job->out_pipe, out_w, ec);
      if (!ec) asio::connect_pipe(job->err_pipe, err_w, ec);
      if (ec) {
        r.err = "cannot make a pipe: " + ec.message();
        continue;
      }
      try {
        job->proc = std::make_unique<bp::process>(
            io.get_executor(), exe, std::vector<std::string>(argv.begin() + 1, argv.end()),
            bp::process_stdio{nullptr, out_w, err_w}, bp::process_environment(env_list),
            ChildSetup<ChildGroup::kGroup>{});
      } catch (const std::exception& e) {
        r.err = "cannot execute '" + argv[0] + "': " + e.what();
        continue;
      }
      r.started = true;
      ++running;
      job->finished = [&running, &launch] {
        --running;
        launch();
      };
      job->timer.expires_after(timeout);
      job->timer.async_wait([job](auto wait_ec) {
        if (!wait_ec) ::kill(-job->proc->id(), SIGKILL);
      });
      job->read(job->out_pipe, job->out_buf, r.out);
      job->read(job->err_pipe, job->err_buf, r.err);
    }
  };
  launch();
  io.run();
  return results;
}

}  // namespace tvd::exec
