#pragma once
// --log-file: stderr itself is pointed at the file, so every line (the workers' ring writes,
// the other threads' log_message, a sanitizer's report) lands there without any writer
// knowing. Reopening for logrotate swaps fd 2 with dup2, which is atomic: a write in flight
// finishes in the old file, and the next one goes to the new.
#include <string>

namespace regcache::core {

// Opens `path` for appending (created 0640 if missing) and makes it fd 2. False with `error`
// set when it cannot be opened; fd 2 is then unchanged.
bool redirect_stderr_to(const std::string &path, std::string *error);

} // namespace regcache::core
