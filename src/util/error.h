// The one exception type of the core; api.cpp turns it into a status code.
#pragma once

#include <stdexcept>
#include <string>

namespace gsh {

class Error : public std::runtime_error {
  public:
    explicit Error(const std::string &what, int http_status = 500)
        : std::runtime_error(what), http_status_(http_status) {}
    int http_status() const { return http_status_; }

  private:
    int http_status_;
};

} // namespace gsh
