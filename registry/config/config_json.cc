#include "registry/config/config_json.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

namespace regcache::registry {

bool read_config_text(const std::string &path, size_t bytes_max, std::string &text, bool *shared,
                      std::string *error) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = path + ": cannot open: " + std::strerror(errno);
    return false;
  }
  struct stat status {};
  bool ok = ::fstat(fd, &status) == 0;
  if (!ok) {
    *error = path + ": cannot stat: " + std::strerror(errno);
  } else if (!S_ISREG(status.st_mode)) {
    *error = path + ": not a regular file";
    ok = false;
  } else if (static_cast<uint64_t>(status.st_size) > bytes_max) {
    *error = path + ": larger than " + std::to_string(bytes_max) + " bytes";
    ok = false;
  }
  if (ok) {
    if (shared != nullptr)
      *shared = (status.st_mode & (S_IRGRP | S_IROTH)) != 0;
    text.resize(static_cast<size_t>(status.st_size));
    size_t filled = 0;
    // Bounded: every round reads at least one byte or ends the loop.
    while (filled < text.size()) {
      const ssize_t count = ::read(fd, text.data() + filled, text.size() - filled);
      if (count < 0 && errno == EINTR)
        continue;
      if (count <= 0) {
        *error = path + ": cannot read: " + (count < 0 ? std::strerror(errno) : "file shrank");
        ok = false;
        break;
      }
      filled += static_cast<size_t>(count);
    }
  }
  ::close(fd);
  return ok;
}

bool parse_json_object(std::string_view origin, std::string_view json,
                       simdjson::dom::parser &parser, simdjson::dom::object &root,
                       std::string *error) {
  // The DOM keeps its own copy of every string, so the padded copy may go when this returns.
  const simdjson::padded_string padded(json.data(), json.size());
  simdjson::dom::element document;
  const simdjson::error_code code = parser.parse(padded).get(document);
  if (code != simdjson::SUCCESS) {
    *error = std::string(origin) + ": invalid JSON: " + simdjson::error_message(code);
    return false;
  }
  if (document.get_object().get(root) != simdjson::SUCCESS) {
    *error = std::string(origin) + ": expected a JSON object at the top level";
    return false;
  }
  return true;
}

} // namespace regcache::registry
