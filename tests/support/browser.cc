#include "tests/support/browser.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "tests/support/http_client.h"
#include "tests/support/scratch.h"

namespace tvd::testing {

namespace {

using nlohmann::json;

std::string find_program(const char* env, std::initializer_list<const char*> candidates) {
  if (const char* p = std::getenv(env); p && *p) return p;
  for (const char* c : candidates) {
    if (::access(c, X_OK) == 0) return c;
  }
  return "";
}

std::string base64_decode(const std::string& in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  int bits = 0, acc = 0;
  for (char c : in) {
    int v = value(c);
    if (v < 0) continue;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

}  // namespace

std::unique_ptr<Browser> Browser::start(const std::filesystem::path& work_dir, std::string& error) {
  const std::string driver = find_program("TVD_CHROMEDRIVER", {"/usr/bin/chromedriver"});
  const std::string chromium =
      find_program("TVD_CHROMIUM", {"/usr/bin/chromium", "/usr/bin/chromium-browser"});
  if (driver.empty() || chromium.empty()) {
    error =
        "chromium and chromedriver are needed (Debian: apt-get install chromium "
        "chromium-driver; scripts/deps.sh --test installs them)";
    return nullptr;
  }
  std::unique_ptr<Browser> b(new Browser());
  std::filesystem::create_directories(work_dir);
  b->port_ = free_port();
  b->log_ = work_dir / "chromedriver.log";
  b->driver_ = spawn_logged({driver, "--port=" + std::to_string(b->port_)}, b->log_);
  if (b->driver_ <= 0) {
    error = "cannot start " + driver;
    return nullptr;
  }
  const std::string log = b->log_.string();
  bool ready = false;
  for (int i = 0; i < 200 && !ready; ++i) {
    auto r = http_get(b->port_, "/status");
    if (r.status == 200) ready = json::parse(r.body, nullptr, false)["value"].value("ready", false);
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!ready) {
    error = "chromedriver did not come up; see " + log;
    return nullptr;
  }
  json args_list = {"--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--window-size=1400,1000",
                    "--user-data-dir=" + (work_dir / "profile").string()};
  json caps = {{"capabilities",
                {{"alwaysMatch",
                  {{"browserName", "chrome"},
                   {"goog:chromeOptions", {{"binary", chromium}, {"args", args_list}}}}}}}};
  json session = b->call("POST", "/session", caps);
  if (!session.is_object() || !session.contains("sessionId")) {
    error = "no Chromium session: " + b->error_ + " (see " + log + ")";
    return nullptr;
  }
  b->session_ = session["sessionId"];
  return b;
}

Browser::~Browser() {
  if (!session_.empty()) call("DELETE", "/session/" + session_, nullptr);
  if (driver_ > 0) {
    ::kill(driver_, SIGTERM);
    ::waitpid(driver_, nullptr, 0);
  }
}

json Browser::call(const std::string& method, const std::string& path, const json& body) {
  error_.clear();
  auto r = http_request(port_, method, path, body.is_null() ? "" : body.dump());
  json j = json::parse(r.body, nullptr, false);
  if (r.status != 200 || j.is_discarded()) {
    error_ =
        method + " " + path + ": HTTP " + std::to_string(r.status) + " " + r.body.substr(0, 500);
    return nullptr;
  }
  return j.contains("value") ? j["value"] : json();
}

bool Browser::open(const std::string& url) {
  call("POST", "/session/" + session_ + "/url", {{"url", url}});
  return error_.empty();
}

json Browser::run(const std::string& script) {
  return call("POST", "/session/" + session_ + "/execute/sync",
              {{"script", script}, {"args", json::array()}});
}

bool Browser::wait_for(const std::string& script, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (run(script) == true) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

bool Browser::resize(int width, int height) {
  call("POST", "/session/" + session_ + "/window/rect", {{"width", width}, {"height", height}});
  return error_.empty();
}

bool Browser::screenshot(const std::filesystem::path& png) {
  json v = call("GET", "/session/" + session_ + "/screenshot", nullptr);
  if (!v.is_string()) return false;
  std::ofstream out(png, std::ios::binary);
  out << base64_decode(v.get<std::string>());
  return static_cast<bool>(out);
}

}  // namespace tvd::testing
