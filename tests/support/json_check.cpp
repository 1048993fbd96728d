// JSON checks with Boost.JSON's parser: strict RFC 8259, and it refuses text that is not valid UTF-8.
#include "support/json_check.hpp"

#include <boost/json/parse.hpp>

namespace orc::test {

bool is_json_object(std::string_view text, std::string* error) {
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  if (ec) {
    if (error) *error = ec.message();
    return false;
  }
  if (!v.is_object()) {
    if (error) *error = "not a JSON object";
    return false;
  }
  return true;
}

}  // namespace orc::test
