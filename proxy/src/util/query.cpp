// A request's query, split once: see query.hpp.
#include "util/query.hpp"

#include <boost/url/parse_query.hpp>

namespace orc::util {

Query::Query(std::string_view text) : text_(text) {
  if (text.empty()) return;  // no params (and Boost.URL is not handed a null view: it crashes on one)
  auto parsed = boost::urls::parse_query(text);
  if (!parsed) {
    valid_ = false;
    return;
  }
  boost::urls::encoding_opts form;
  form.space_as_plus = true;
  params_.reserve(parsed->size());
  for (const auto& p : *parsed) {
    QueryParam q;
    q.name = p.key.decode(form);
    q.raw_name = std::string_view(p.key.data(), p.key.size());
    q.raw_value = std::string_view(p.value.data(), p.value.size());
    q.has_value = p.has_value;
    params_.push_back(std::move(q));
  }
}

std::optional<std::string_view> Query::raw_value(std::string_view name) const {
  for (const auto& p : params_)
    if (p.name == name) return p.raw_value;
  return std::nullopt;
}

}  // namespace orc::util
