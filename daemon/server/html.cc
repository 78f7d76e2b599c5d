#include "daemon/server/html.h"

#include <algorithm>
#include <chrono>

#include "daemon/base/units.h"

namespace tvd::server::html {

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string ago(int64_t then, int64_t now) {
  if (now - then < 5) return "just now";
  return duration(now - then) + " ago";
}

std::string duration(int64_t seconds) {
  return format_duration(std::chrono::seconds(std::max<int64_t>(0, seconds)));
}

std::string size(int64_t bytes) {
  return format_size(static_cast<uint64_t>(std::max<int64_t>(0, bytes)));
}

std::string render(const Page& p) {
  std::string nav;
  for (auto [id, label, href] : {std::tuple{"matrix", "Matrix", "/"},
                                 {"queue", "Queue", "/queue"},
                                 {"nights", "Nights", "/nights"},
                                 {"metrics", "Metrics", "/metrics"}}) {
    nav += std::string("<a href=\"") + href + "\"" +
           (p.nav == id ? " class=\"current\" aria-current=\"page\"" : "") + ">" + label + "</a>";
  }
  return "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
         "<title>" +
         escape(p.title) +
         " · tvd</title>"
         "<link rel=\"stylesheet\" href=\"/assets/tvd.css\"></head>\n"
         "<body data-refresh=\"" +
         std::to_string(p.refresh_seconds) +
         "\" data-refreshes=\"0\">"
         "<header><span class=\"brand\">tvd</span><nav>" +
         nav +
         "</nav><span id=\"live\" title=\"The page refreshes itself\">live</span></header>\n"
         "<main>" +
         p.main + "</main>\n" + p.after_main +
         "<script src=\"/assets/tvd.js\"></script></body></html>\n";
}

std::string_view stylesheet() {
  return R"css(:root { --ok: #2e9d4f; --fail: #d64541; --run: #2f7fd8; --queue: #e0a526;
  --never: #eceff3; --excl: #ffffff; --cancel: #9aa3ad; --ink: #1f2328; --muted: #656d76; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, sans-serif; color: var(--ink); background: #f6f8fa; }
header { display: flex; gap: 1.5em; align-items: center; padding: .6em 1.2em; background: #24292f; color: #fff; }
header .brand { font-weight: 700; letter-spacing: .05em; }
header nav a { color: #d0d7de; margin-right: 1em; text-decoration: none; }
header nav a.current { color: #fff; border-bottom: 2px solid #fff; }
#live { margin-left: auto; font-size: 12px; color: #8fd19e; }
#live.offline { color: #ff8182; }
main, #log-section { padding: 1em 1.2em; }
h1 { font-size: 20px; margin: .2em 0 .6em; } h2 { font-size: 16px; margin: 1.2em 0 .4em; }
table { border-collapse: collapse; background: #fff; }
th, td { border: 1px solid #d0d7de; padding: .25em .5em; text-align: left; vertical-align: top; }
th { background: #f0f3f6; font-weight: 600; }
.muted { color: var(--muted); }
.grids { display: flex; flex-wrap: wrap; gap: 1.2em; }
table.matrix td.cell { width: 2.2em; height: 1.8em; text-align: center; padding: 0; }
table.matrix td.cell a { display: block; width: 100%; height: 100%; color: inherit; text-decoration: none; line-height: 1.8em; }
.s-succeeded { background: var(--ok); color: #fff; } .s-failed { background: var(--fail); color: #fff; }
.banner { padding: 0.5em 1em; border-radius: 4px; font-weight: bold; }
td.cell.broken { outline: 3px solid var(--fail); outline-offset: -3px; font-weight: bold; }
.s-running { background: var(--run); color: #fff; } .s-queued { background: var(--queue); }
.s-never { background: var(--never); } .s-cancelled { background: var(--cancel); color: #fff; }
.s-excluded { background: repeating-linear-gradient(45deg, #fff, #fff 4px, #eceff3 4px, #eceff3 8px); color: var(--muted); cursor: help; }
.legend span { display: inline-block; padding: 0 .5em; margin-right: .4em; border: 1px solid #d0d7de; }
.key-duration { color: #2f7fd8; } .key-peak { color: #d64541; }
progress { width: 14em; height: 1em; vertical-align: middle; }
.bar { position: relative; width: 14em; height: 1.1em; background: #eceff3; border-radius: 3px; overflow: hidden; display: inline-block; vertical-align: middle; }
.bar > span { position: absolute; left: 0; top: 0; bottom: 0; background: var(--run); }
.bar.over > span { background: var(--queue); }
pre#log { background: #0d1117; color: #e6edf3; padding: .8em; max-height: 32em; overflow: auto; white-space: pre-wrap; }
svg.chart { background: #fff; border: 1px solid #d0d7de; }
svg.chart text { font: 11px system-ui, sans-serif; fill: var(--muted); }
svg.chart .failed { fill: var(--fail); }
pre#log .dim { opacity: .55; }
pre#log mark#first-error { background: #8b1d1d; color: #fff; }
/* Narrow screens (a phone, 420 px): the header wraps, wide tables scroll inside themselves. */
@media (max-width: 600px) {
  header { flex-wrap: wrap; gap: .4em; padding: .5em .8em; }
  header nav a { margin-right: .6em; }
  #live { margin-left: 0; }
  main, #log-section { padding: .6em; }
  main a, main code { overflow-wrap: anywhere; }
  .grids > * { min-width: 0; max-width: 100%; }
  table { display: block; max-width: 100%; overflow-x: auto; }
  progress, .bar { width: 8em; }
  svg.chart { max-width: 100%; height: auto; }
  pre#log { max-height: 24em; font-size: 12px; }
}
)css";
}

std::string_view script() {
  return R"js('use strict';
// Refreshes <main> in place every data-refresh seconds, and follows a log if the page has one.
(function () {
  const body = document.body;
  const live = document.getElementById('live');
  const every = Math.max(1, Number(body.dataset.refresh || 5)) * 1000;
  let refreshes = 0;
  async function refresh() {
    try {
      const url = new URL(location.href);
      url.searchParams.set('part', 'main');
      const r = await fetch(url, { cache: 'no-store' });
      if (!r.ok) throw new Error(String(r.status));
      document.querySelector('main').innerHTML = await r.text();
      body.dataset.refreshes = String(++refreshes);
      live.textContent = 'live';
      live.className = '';
    } catch (e) {
      live.textContent = 'daemon unreachable, retrying';
      live.className = 'offline';
    }
    setTimeout(refresh, every);
  }
  setTimeout(refresh, every);

  const log = document.getElementById('log');
  if (!log) return;
  // The page opens at the first error of the log, when it has one.
  const first = document.getElementById('first-error');
  if (first) first.scrollIntoView({ block: 'center' });
  let offset = Number(log.dataset.offset || 0);
  // Attempt by attempt from the first one shown (attempt 1 if none had started: until it
  // starts, the daemon answers 404 and the follower asks again).
  let attempt = Number(log.dataset.attempt || 0) || 1;
  async function follow() {
    let again = 1000;
    try {
      const r = await fetch('/job/' + log.dataset.job + '/log?attempt=' + attempt + '&offset=' + offset,
                            { cache: 'no-store' });
      if (r.status === 404) { log.dataset.done = 'yes'; return; }  // it ended before it ran
      if (r.ok) {
        const j = await r.json();
        const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
        if (j.text) log.insertAdjacentText('beforeend', j.text);  // keeps the marks
        offset = j.offset;
        if (j.next_attempt) {  // this attempt is over: go on with the next one
          attempt = j.next_attempt;
          offset = 0;
          again = 0;
          log.insertAdjacentText('beforeend', '\n--- attempt ' + attempt + ' ---\n');
        }
        if (log.textContent.length > 262144) log.textContent = log.textContent.slice(-196608);
        if (atEnd) log.scrollTop = log.scrollHeight;
        if (j.done) { log.dataset.done = 'yes'; return; }
      }
    } catch (e) { /* the daemon restarts: keep trying */ }
    setTimeout(follow, again);
  }
  if (log.dataset.done !== 'yes') follow();  // an attempt asked for by its number stays itself
})();
)js";
}

}  // namespace tvd::server::html
