// The daemon's log lines, on stderr. Under systemd (JOURNAL_STREAM set) each line starts with
// its syslog level, <3> error, <4> warning, <6> info, and no timestamp: journald adds its own.
// Elsewhere each line starts with an ISO 8601 UTC timestamp and the level's name.
#pragma once

#include <string_view>

namespace tvd::log {

void info(std::string_view message);
void warning(std::string_view message);
void error(std::string_view message);

}  // namespace tvd::log
