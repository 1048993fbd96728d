// The single translation unit that compiles Boost.JSON (header-only mode, compiled once).
#include <boost/json/src.hpp>
