#pragma once
// JSON helpers over nlohmann::json that turn untrusted input into Results naming the field.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "hp/core/error.h"

namespace hp::core {

using Json = nlohmann::json;

// Parses a document; a syntax error becomes kInvalidArgument with the byte offset. Depth-limited.
Result<Json> ParseJson(std::string_view text);
// Same, but the top level must be an object.
Result<Json> ParseJsonObject(std::string_view text);

// Typed field access. Missing required fields and wrong types are kInvalidArgument with
// `field` set to the key.
Result<std::string> GetString(const Json& obj, std::string_view key);
Result<std::optional<std::string>> GetOptionalString(const Json& obj, std::string_view key);
Result<int64_t> GetInt(const Json& obj, std::string_view key);
Result<std::optional<int64_t>> GetOptionalInt(const Json& obj, std::string_view key);
Result<std::optional<bool>> GetOptionalBool(const Json& obj, std::string_view key);

}  // namespace hp::core
