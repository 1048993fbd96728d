// Vary matching: the normalised form of a nominated request field.
#include "cache/vary.hpp"

#include <algorithm>
#include <cstddef>
#include <vector>

namespace orc::cache {
namespace {

// How a field's value is normalised beyond whitespace.
enum class ListKind {
  opaque,  // unknown syntax: whitespace only
  sorted,  // a list whose member order carries no meaning
  ranked,  // a list ordered by weight, request order among equal weights
};

bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = lower(c);
  return out;
}

// The index one past the quoted-string that starts at s[i] (a '"'): past its closing quote, or the end of `s`
// when it is unterminated (then `closed`, when given, is set false). A backslash escapes the byte after it
// (RFC 9110 section 5.6.4).
std::size_t quoted_end(std::string_view s, std::size_t i, bool* closed = nullptr) {
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\')
      ++i;
    else if (s[i] == '"')
      return i + 1;
  }
  if (closed) *closed = false;
  return s.size();
}

// Whether every quoted-string in `s` is closed.
bool quotes_closed(std::string_view s) {
  bool closed = true;
  for (std::size_t i = 0; i < s.size() && closed;) i = s[i] == '"' ? quoted_end(s, i, &closed) : i + 1;
  return closed;
}

// `s` split at each `sep` outside quoted-strings.
std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (std::size_t i = 0; i < s.size();) {
    if (s[i] == '"') {
      i = quoted_end(s, i);
    } else if (s[i] == sep) {
      out.push_back(s.substr(start, i - start));
      start = ++i;
    } else {
      ++i;
    }
  }
  out.push_back(s.substr(start));
  return out;
}

// `s` with OWS outside quoted-strings trimmed, removed next to any byte of `tight` and collapsed to one space
// elsewhere. The result never starts or ends with OWS.
std::string squeeze(std::string_view s, std::string_view tight) {
  std::string out;
  out.reserve(s.size());
  bool pending = false;  // OWS seen since the last byte kept
  for (std::size_t i = 0; i < s.size();) {
    char c = s[i];
    if (is_ows(c)) {
      pending = true;
      ++i;
      continue;
    }
    if (pending && !out.empty() && tight.find(c) == std::string_view::npos &&
        tight.find(out.back()) == std::string_view::npos)
      out += ' ';
    pending = false;
    std::size_t end = c == '"' ? quoted_end(s, i) : i + 1;
    out.append(s.substr(i, end - i));
    i = end;
  }
  return out;
}

// `s` lower-cased outside quoted-strings.
std::string lower_unquoted(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    if (s[i] == '"') {
      std::size_t end = quoted_end(s, i);
      out.append(s.substr(i, end - i));
      i = end;
    } else {
      out += lower(s[i++]);
    }
  }
  return out;
}

// A parameter's name: what comes before its first '=' outside quoted-strings (all of it without one).
std::string_view param_name(std::string_view p) {
  return split(p, '=').front();
}

// The weight of a qvalue in thousandths (RFC 9110 section 12.4.2), or -1 when it does not parse.
int qvalue(std::string_view v) {
  if (v.empty() || (v[0] != '0' && v[0] != '1')) return -1;
  int whole = v[0] - '0';
  if (v.size() == 1) return whole * 1000;
  if (v[1] != '.' || v.size() > 5) return -1;
  int frac = 0;
  for (std::size_t i = 2; i < 5; ++i) {
    int digit = 0;
    if (i < v.size()) {
      if (v[i] < '0' || v[i] > '9') return -1;
      digit = v[i] - '0';
    }
    frac = frac * 10 + digit;
  }
  if (whole == 1 && frac != 0) return -1;
  return whole * 1000 + frac;
}

// One list member, whitespace-normalised, with its parameters.
struct Member {
  std::vector<std::string> parts;  // the value, then each parameter as written ("name=value" or "name")
  int weight = 1000;               // from its q parameter; -1 when that does not parse
};

// `raw` (one list member, not empty) normalised for `field` (lower case).
Member normalise_member(std::string_view raw, std::string_view field) {
  Member m;
  std::string squeezed = squeeze(raw, ";=");  // named: split's views point into it
  for (auto part : split(squeezed, ';')) m.parts.emplace_back(part);
  for (std::size_t i = 0; i < m.parts.size(); ++i) {
    auto& p = m.parts[i];
    if (i == 0 || field != "accept") {
      p = lower_unquoted(p);
      continue;
    }
    // An Accept parameter: the name is case-insensitive, the value only for the weight.
    std::size_t n = param_name(p).size();
    std::string name = lower_unquoted(p.substr(0, n));
    p = name == "q" ? lower_unquoted(p) : name + p.substr(n);
  }
  for (std::size_t i = 1; i < m.parts.size(); ++i) {
    std::string_view p = m.parts[i];
    if (param_name(p) != "q") continue;
    m.weight = p.size() > 2 ? qvalue(p.substr(2)) : -1;
    break;  // in Accept, what follows the weight is accept-ext
  }
  // The default weight, written out, says nothing more; only the last parameter is dropped, since in Accept a
  // weight ahead of other parameters makes them accept-ext rather than media type parameters.
  if (m.parts.size() > 1 && !m.parts[0].empty() && param_name(m.parts.back()) == "q" && m.weight == 1000)
    m.parts.pop_back();
  return m;
}

std::string join(const std::vector<std::string>& parts, char sep) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

ListKind kind_of(std::string_view field) {
  if (field == "accept" || field == "accept-charset" || field == "accept-encoding") return ListKind::sorted;
  if (field == "accept-language") return ListKind::ranked;
  return ListKind::opaque;
}

}  // namespace

std::string vary_value(std::string_view name, std::optional<std::string_view> value) {
  if (!value) return std::string(kVaryAbsent);
  std::string field = lower(name);
  ListKind kind = kind_of(field);
  // An unterminated quoted-string runs to the end and would swallow the members sorted after it: such a
  // value (invalid anyway) is compared as an opaque one.
  if (kind == ListKind::opaque || !quotes_closed(*value)) return squeeze(*value, ",");

  // RFC 9110 section 5.6.1: empty list members are ignored.
  std::vector<Member> members;
  for (auto raw : split(*value, ',')) {
    if (std::all_of(raw.begin(), raw.end(), is_ows)) continue;
    members.push_back(normalise_member(raw, field));
  }
  std::vector<std::string> out;
  out.reserve(members.size());
  for (const auto& m : members) out.push_back(join(m.parts, ';'));
  if (kind == ListKind::sorted) {
    std::sort(out.begin(), out.end());
  } else if (std::none_of(members.begin(), members.end(), [](const Member& m) { return m.weight < 0; })) {
    std::vector<std::size_t> order(members.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return members[a].weight > members[b].weight; });
    std::vector<std::string> ranked;
    ranked.reserve(order.size());
    for (auto i : order) ranked.push_back(std::move(out[i]));
    out = std::move(ranked);
  }
  return join(out, ',');
}

}  // namespace orc::cache
