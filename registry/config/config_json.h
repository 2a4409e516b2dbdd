#pragma once
// Reading a JSON configuration document, shared by the regcache config file (config_file.h)
// and a Docker config.json (docker_config.h): the whole file, bounded, then simdjson's DOM.
#include <simdjson.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace regcache::registry {

// A config file larger than this is refused: it is read whole at startup.
inline constexpr size_t kConfigFileBytesMax = 1u << 20;

// Reads a whole regular file of at most `bytes_max` bytes; `shared` tells whether its mode lets
// group or others read it. Errors name the path and the reason (strerror).
bool read_config_text(const std::string &path, size_t bytes_max, std::string &text, bool *shared,
                      std::string *error);

// Parses `json` with `parser` into `root`, which must be an object; `root` stays valid while
// `parser` lives and parses nothing else. Errors start with `origin` (the file's path) and
// never quote the text.
bool parse_json_object(std::string_view origin, std::string_view json,
                       simdjson::dom::parser &parser, simdjson::dom::object &root,
                       std::string *error);

} // namespace regcache::registry
