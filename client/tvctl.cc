#include "client/tvctl.h"

#include "daemon/base/command_line.h"

#include <CLI/CLI.hpp>
#include <cstdlib>

#include "client/session.h"

namespace tvd::client {
namespace {

using nlohmann::json;

// The commands, as a table: each declares its options and runs; a function may serve two
// commands that differ only in what they ask (it gets the command's name).
struct Command {
  const char* name;
  const char* help;
  void (*declare)(CLI::App& sub, Options& o);
  int (*run)(const std::string& name, Global& g, const Options& o, std::ostream& out,
             std::ostream& err, bool terminal);
};

const Command kCommands[] = {
    {"enqueue", "queue variants for building (and publishing)",
     [](CLI::App& c, Options& o) {
       c.add_option("spec", o.specs, "sm89-avx512vnni, cpu-avx2, 'sm90-*', a package name");
       c.add_flag("--all", o.all, "every buildable variant of the matrix");
       c.add_option("--batch", o.batch, "name the batch (the nightly uses 'nightly')");
       c.add_option("--priority", o.priority, "higher starts first (default 0)");
       c.add_flag("--force", o.force,
                  "accept excluded variants; rebuild ones still failing; build a recipe tvd "
                  "check finds errors in");
       c.add_flag("--no-publish", o.no_publish, "build only");
       c.add_flag("--wait", o.wait,
                  "follow the jobs until each has ended (across restarts of the daemon); exit 1 "
                  "if any failed");
       c.footer(
           "Examples:\n  tvctl enqueue sm89-avx512vnni cpu-avx2\n  tvctl enqueue --all --batch "
           "nightly --wait   (the nightly unit: its result is the night's)");
     },
     run_enqueue},
    {"pause", "start no new build (running ones go on); kept across restarts",
     [](CLI::App& c, Options&) { c.footer("Example:\n  tvctl pause      then 'tvctl resume'"); },
     run_pause},
    {"resume", "start builds again after a pause or a drain", [](CLI::App&, Options&) {},
     run_pause},
    {"drain", "start no new build, wait until what runs has ended (before an upgrade)",
     [](CLI::App& c, Options&) {
       c.footer(
           "Example:\n  tvctl drain && systemctl restart tvd      builds start again after the "
           "restart");
     },
     run_pause},
    {"status", "jobs: what runs, what waits and why, what finished",
     [](CLI::App& c, Options&) {
       c.footer(
           "Examples:\n  tvctl status\n  tvctl --json status | jq '.jobs[] | select(.state == "
           "\"failed\")'");
     },
     run_status},
    {"watch", "status, redrawn until interrupted",
     [](CLI::App& c, Options& o) {
       c.add_option("--interval", o.watch_interval, "seconds between redraws (default 2)");
       c.add_option("--count", o.watch_count, "stop after this many redraws (default: never)");
       c.footer("Example:\n  tvctl watch --interval 5");
     },
     run_watch},
    {"show", "one job with its attempts",
     [](CLI::App& c, Options& o) {
       c.add_option("job", o.job, "the job id")->required()->check(CLI::PositiveNumber);
       c.footer(
           "Example:\n  tvctl show 12        attempts, logs and reasons of job 12 (exit 1 if it "
           "failed)");
     },
     run_show},
    {"cancel", "cancel queued or running jobs, or every one of a batch",
     [](CLI::App& c, Options& o) {
       c.add_option("job", o.jobs, "job ids")->check(CLI::PositiveNumber);
       c.add_option("--batch", o.batch_id, "every queued or running job of this batch")
           ->check(CLI::PositiveNumber);
       c.footer(
           "Examples:\n  tvctl cancel 12 13        a running build's whole process group is "
           "stopped\n  tvctl cancel --batch 7    what is left of tonight's batch");
     },
     run_cancel_or_retry},
    {"retry", "a failed or cancelled job again, or every failed variant",
     [](CLI::App& c, Options& o) {
       c.add_option("job", o.job, "the job id")->check(CLI::PositiveNumber);
       c.add_flag("--failed", o.failed, "every variant whose newest job failed");
       c.add_option("--batch", o.batch_id, "with --failed: only that batch's")
           ->check(CLI::PositiveNumber);
       c.footer(
           "Examples:\n  tvctl retry 12                 a job whose build succeeded retries only "
           "its publish\n  tvctl retry --failed --batch 7 the night's failures");
     },
     run_cancel_or_retry},
    {"matrix", "every cell of the matrix: recipe, GPU target, exclusions",
     [](CLI::App& c, Options&) { c.footer("Example:\n  tvctl --json matrix | jq '.summary'"); },
     run_recipes},
    {"generate", "write and commit missing recipes through the daemon",
     [](CLI::App& c, Options& o) {
       c.add_option("spec", o.specs, "variants, as for enqueue");
       c.add_flag("--all", o.all, "every variant of the matrix");
       c.add_flag("--dry-run", o.dry_run, "only say what would be written");
       c.add_flag("--force", o.force, "accept excluded variants");
       c.footer(
           "Examples:\n  tvctl generate --all --dry-run\n  tvctl generate 'sm90-*'     written "
           "and committed, one commit each");
     },
     run_recipes},
    {"batches", "the batches (nightly runs): when, how long, how they went",
     [](CLI::App&, Options&) {}, run_batches},
    {"show-batch", "one batch: counts, skipped and why, changes since the previous one",
     [](CLI::App& c, Options& o) {
       c.add_option("batch", o.batch_id, "the batch id")->required();
       c.footer(
           "Example:\n  tvctl show-batch 12   newly failing and fixed variants against the night "
           "before");
     },
     run_batches},
    {"logs", "the log of a job's latest attempt (the last 64 KiB), or of any attempt, whole",
     [](CLI::App& c, Options& o) {
       c.add_option("job", o.job, "the job id")->required()->check(CLI::PositiveNumber);
       c.add_flag("-f,--follow", o.follow,
                  "keep printing as the build writes, until the job ends (through restarts of "
                  "the daemon)");
       c.add_option("--attempt", o.attempt, "that attempt's log (tvctl show lists them)")
           ->check(CLI::PositiveNumber);
       c.add_flag("--full", o.full, "from its first line, not its last 64 KiB");
       c.footer(
           "Examples:\n  tvctl logs 12\n  tvctl logs -f 12              follow a running build "
           "until it ends\n  tvctl logs --attempt 1 --full 12   the first attempt, whole");
     },
     run_logs},
};

}  // namespace

int run_tvctl(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
              bool terminal) {
  CLI::App app{"tvctl: talks to tvd, the TorchVision build-matrix daemon", "tvctl"};
  app.fallthrough();
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("tvctl ") + TVD_VERSION);
  Global g;
  app.add_option("--socket", g.socket,
                 "the daemon's socket (default: $TVD_SOCKET, then the config's)");
  app.add_option("--config", g.config,
                 "the config whose socket to use (default /etc/tvd/tvd.json)");
  app.add_flag("--json", g.json, "print one JSON document");
  app.add_option("--timeout", g.timeout,
                 "seconds to wait for the daemon to accept and to answer (default 30; 0: no "
                 "limit; logs -f and watch wait as long as they follow)")
      ->check(CLI::NonNegativeNumber);
  app.footer(
      "Examples:\n"
      "  tvctl enqueue sm89-avx512vnni      build one variant now\n"
      "  tvctl status                        what runs, what waits and why\n"
      "  tvctl cancel 12 13\n"
      "Exit codes: 0 done, 1 refused or failed, 2 bad usage or input, 3 daemon unreachable.");

  Options o;
  std::vector<std::pair<const Command*, CLI::App*>> commands;
  for (const auto& c : kCommands) {
    CLI::App* sub = app.add_subcommand(c.name, c.help);
    c.declare(*sub, o);
    commands.emplace_back(&c, sub);
  }

  std::vector<std::string> names;
  for (const auto& c : kCommands)
    names.emplace_back(c.name);
  if (auto unknown = unknown_command(args, names, {"--socket", "--config", "--timeout"})) {
    err << "tvctl: " << *unknown << "\n  hint: run 'tvctl --help'\n";
    return 2;
  }
  std::vector<std::string> rev(args.rbegin(), args.rend());
  try {
    app.parse(rev);
  } catch (const CLI::CallForVersion&) {
    out << "tvctl " << TVD_VERSION << '\n';
    return 0;
  } catch (const CLI::CallForHelp&) {
    out << app.help();
    return 0;
  } catch (const CLI::ParseError& e) {
    err << "tvctl: " << e.what() << "\n  hint: run 'tvctl --help' or 'tvctl COMMAND --help'\n";
    return 2;
  }
  g.color = terminal && !g.json && !std::getenv("NO_COLOR");

  for (const auto& [c, sub] : commands) {
    if (sub->parsed()) return c->run(c->name, g, o, out, err, terminal);
  }
  return 2;
}

}  // namespace tvd::client
