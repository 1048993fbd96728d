// The single translation unit that compiles Boost.URL (header-only mode, compiled once).
#include <boost/url/src.hpp>
