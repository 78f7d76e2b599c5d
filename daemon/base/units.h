// Sizes and durations as people read and write them.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "daemon/base/result.h"

namespace tvd {

// "48GiB", "512MiB", "1.5TiB", "100GB", "4096" (bytes). Binary units are powers of 1024, SI
// units powers of 1000; case does not matter.
Result<uint64_t> parse_size(std::string_view text);
std::string format_size(uint64_t bytes);  // "48 GiB", "1.5 TiB"

// "90s", "30min", "2h", "1h30m", "45" (seconds).
Result<std::chrono::seconds> parse_duration(std::string_view text);
// "45 s", "12 min", "2 h 14 min", "3 d 2 h".
std::string format_duration(std::chrono::seconds d);
// A moment as people read it in logs and status: "2026-11-30 02:31:05 UTC".
std::string format_utc(int64_t unix_seconds);

}  // namespace tvd
