// A recipe template: text with {PLACEHOLDER}s, filled by plain substitution as the seed's
// workflow does by hand. A placeholder written {NAME?} may be empty, and a line that holds only
// such empty placeholders (and blanks) is dropped; that is how a default-CUDA recipe stays
// byte-for-byte the seed's template. Anything left unfilled or unknown is an error, never output.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "daemon/base/result.h"

namespace tvd {

using Substitutions = std::map<std::string, std::string, std::less<>>;  // NAME -> value

class Template {
 public:
  // Fails if a placeholder's name is not in `known`, naming its line.
  static Result<Template> parse(std::string name, std::string_view text,
                                const std::set<std::string, std::less<>>& known);

  // Fails, naming every problem, if a placeholder has no value, a required one is empty, or a
  // value brought in a placeholder of its own.
  Result<std::string> render(const Substitutions& values) const;

  const std::string& name() const { return name_; }
  // A stable hash of the template's text: which template generated a recipe.
  const std::string& hash() const { return hash_; }
  const std::set<std::string, std::less<>>& placeholders() const { return placeholders_; }

 private:
  struct Piece {
    std::string text;  // literal text, or the placeholder's name
    bool is_placeholder = false;
    bool optional = false;
  };
  using Line = std::vector<Piece>;

  std::string name_;
  std::string hash_;
  std::vector<Line> lines_;
  bool trailing_newline_ = false;
  std::set<std::string, std::less<>> placeholders_;
};

// Every {NAME} or {NAME?} in `text`, as (name, line number from 1).
std::vector<std::pair<std::string, size_t>> find_placeholders(std::string_view text);

}  // namespace tvd
