// Names the calling thread, as `top -H`, `ps -L`, gdb and /proc/<pid>/task/<tid>/comm show it.
#pragma once

#include <string_view>

namespace orc::util {

// Linux keeps 15 bytes of a thread's name: a longer `name` is cut there.
void name_this_thread(std::string_view name);

}  // namespace orc::util
