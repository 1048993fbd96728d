#include "util/thread_name.hpp"

#include <pthread.h>

#include <algorithm>
#include <string>

namespace orc::util {

void name_this_thread(std::string_view name) {
  constexpr std::size_t kMax = 15;  // TASK_COMM_LEN less the terminating NUL
  const std::string cut(name.substr(0, std::min(name.size(), kMax)));
  pthread_setname_np(pthread_self(), cut.c_str());  // fails only on a name too long
}

}  // namespace orc::util
