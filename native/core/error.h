// The one exception type the core throws. Messages are written for the person who will read
// them in a JS stack trace: say what was wrong, where, and what to do.
#pragma once
#include <stdexcept>
#include <string>

namespace sd {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace sd
