// Vary matching as a pure function (RFC 9111 section 4.1): a stored response is selected when the request
// fields its Vary names match those of the original request after normalisation. This file is that
// normalisation, so that two values match exactly when their normalised forms are equal and the normalised
// form can go into a key. Standard library only.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace orc::cache {

// What vary_value gives for an absent field. A normalised present value never starts with a space (every
// value is trimmed and lists drop empty members), so this can equal no present value, empty ones included.
inline constexpr std::string_view kVaryAbsent = " absent";

// The value of request field `name` (any case) as Vary compares it: `value` empty-optional when the field is
// absent (absent never equals present-but-empty). A field sent on several lines is passed as its lines joined
// with ", " (RFC 9110 section 5.3).
//
// Every field: OWS (space, tab) is trimmed, removed next to commas and collapsed to one space elsewhere, with
// quoted-strings (backslash escapes included) kept byte for byte; members are joined with "," and empty ones
// kept, since the field's list syntax is unknown. Nothing else changes: no case folding, no reordering.
//
// Accept, Accept-Charset, Accept-Encoding and Accept-Language are read as lists (RFC 9110 section 12.5):
// empty members are dropped, OWS next to ';' and '=' is removed, each member is lower-cased outside
// quoted-strings (in Accept, media type and extension parameter values keep their case, as their
// case-sensitivity depends on the parameter), a trailing "q=1" (or 1., 1.0, 1.00, 1.000) is dropped since it
// is the default weight, and other q-values stay as written. The members of Accept, Accept-Charset and
// Accept-Encoding are then sorted. Those of Accept-Language are ordered by weight, highest first, with
// members of equal weight kept in request order: with equal weights the order is the priority list of RFC
// 4647 section 2.3 that common matchers break ties with (and with a weight that does not parse, nothing is
// reordered).
std::string vary_value(std::string_view name, std::optional<std::string_view> value);

}  // namespace orc::cache
