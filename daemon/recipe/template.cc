#include "daemon/recipe/template.h"

#include "daemon/base/hash.h"

namespace tvd {
namespace {

bool is_name_start(char c) {
  return c >= 'A' && c <= 'Z';
}
bool is_name_char(char c) {
  return is_name_start(c) || (c >= '0' && c <= '9') || c == '_';
}

// At text[pos] == '{': the length of a placeholder there, 0 if none.
size_t placeholder_at(std::string_view text, size_t pos, bool* optional) {
  size_t i = pos + 1;
  if (i >= text.size() || !is_name_start(text[i])) return 0;
  while (i < text.size() && is_name_char(text[i]))
    ++i;
  *optional = i < text.size() && text[i] == '?';
  if (*optional) ++i;
  if (i >= text.size() || text[i] != '}') return 0;
  return i + 1 - pos;
}

std::string name_of(std::string_view token, bool optional) {
  return std::string(token.substr(1, token.size() - (optional ? 3 : 2)));
}

}  // namespace

std::vector<std::pair<std::string, size_t>> find_placeholders(std::string_view text) {
  std::vector<std::pair<std::string, size_t>> out;
  size_t line = 1;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n') ++line;
    if (text[i] != '{') continue;
    bool optional = false;
    if (size_t len = placeholder_at(text, i, &optional)) {
      out.emplace_back(name_of(text.substr(i, len), optional), line);
      i += len - 1;
    }
  }
  return out;
}

Result<Template> Template::parse(std::string name, std::string_view text,
                                 const std::set<std::string, std::less<>>& known) {
  Template t;
  t.name_ = std::move(name);
  t.hash_ = stable_hash(text);
  t.trailing_newline_ = !text.empty() && text.back() == '\n';
  if (t.trailing_newline_) text.remove_suffix(1);

  std::vector<std::string> problems;
  size_t line_no = 0;
  size_t start = 0;
  while (true) {
    size_t end = text.find('\n', start);
    std::string_view line = text.substr(start, end == std::string_view::npos ? end : end - start);
    ++line_no;
    Line pieces;
    std::string literal;
    for (size_t i = 0; i < line.size(); ++i) {
      bool optional = false;
      size_t len = line[i] == '{' ? placeholder_at(line, i, &optional) : 0;
      if (len == 0) {
        literal += line[i];
        continue;
      }
      if (!literal.empty()) pieces.push_back({std::move(literal), false, false});
      literal.clear();
      std::string ph = name_of(line.substr(i, len), optional);
      if (!known.count(ph)) {
        problems.push_back("line " + std::to_string(line_no) + ": unknown placeholder {" + ph +
                           "}");
      }
      t.placeholders_.insert(ph);
      pieces.push_back({std::move(ph), true, optional});
      i += len - 1;
    }
    if (!literal.empty()) pieces.push_back({std::move(literal), false, false});
    t.lines_.push_back(std::move(pieces));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  if (!problems.empty()) {
    std::string msg = "template " + t.name_ + ":";
    for (const auto& p : problems)
      msg += "\n  " + p;
    std::string hint = "the placeholders a template may use are:";
    for (const auto& k : known)
      hint += " {" + k + "}";
    return fail(ErrorKind::kBadInput, msg, hint);
  }
  return t;
}

Result<std::string> Template::render(const Substitutions& values) const {
  std::string out;
  std::vector<std::string> problems;
  for (size_t n = 0; n < lines_.size(); ++n) {
    const Line& line = lines_[n];
    std::string rendered;
    bool droppable = false;  // only blanks and empty optional placeholders
    bool all_blank_or_empty_optional = true;
    for (const Piece& p : line) {
      if (!p.is_placeholder) {
        if (p.text.find_first_not_of(" \t") != std::string::npos)
          all_blank_or_empty_optional = false;
        rendered += p.text;
        continue;
      }
      auto it = values.find(p.text);
      if (it == values.end()) {
        problems.push_back("line " + std::to_string(n + 1) + ": {" + p.text + "} has no value");
        continue;
      }
      if (it->second.empty() && !p.optional) {
        problems.push_back("line " + std::to_string(n + 1) + ": {" + p.text + "} is empty");
      }
      if (!it->second.empty() || !p.optional)
        all_blank_or_empty_optional = false;
      else
        droppable = true;
      rendered += it->second;
    }
    if (droppable && all_blank_or_empty_optional) continue;
    out += rendered;
    if (n + 1 < lines_.size() || trailing_newline_) out += '\n';
  }
  for (const auto& [ph, line] : find_placeholders(out)) {
    problems.push_back("line " + std::to_string(line) + " of the output still holds {" + ph +
                       "}, brought in by a substituted value");
  }
  if (!problems.empty()) {
    std::string msg = "cannot fill template " + name_ + ":";
    for (const auto& p : problems)
      msg += "\n  " + p;
    return fail(ErrorKind::kBadInput, msg,
                "fix the template or the matrix.json value; nothing was written");
  }
  return out;
}

}  // namespace tvd
