// A real headless Chromium for page tests, driven over WebDriver (Debian's chromedriver):
// started with --headless --no-sandbox --disable-gpu and a fresh profile, it loads the page,
// runs its scripts, and answers questions about the rendered DOM.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

namespace tvd::testing {

class Browser {
 public:
  // Empty with `error` set when chromedriver or Chromium is missing or does not start.
  static std::unique_ptr<Browser> start(const std::filesystem::path& work_dir, std::string& error);
  ~Browser();
  Browser(const Browser&) = delete;
  Browser& operator=(const Browser&) = delete;

  bool open(const std::string& url);
  // Runs `script` (a function body: "return document.title") in the page; its return value.
  nlohmann::json run(const std::string& script);
  // Polls `script` until it returns true; false when `limit` passes first.
  bool wait_for(const std::string& script, std::chrono::milliseconds limit);
  bool screenshot(const std::filesystem::path& png);
  // The window's size (a phone's width: 420).
  bool resize(int width, int height);
  std::string last_error() const { return error_; }

 private:
  Browser() = default;
  nlohmann::json call(const std::string& method, const std::string& path,
                      const nlohmann::json& body);

  pid_t driver_ = 0;
  int port_ = 0;
  std::string session_;
  std::string error_;
  std::filesystem::path log_;
};

}  // namespace tvd::testing
