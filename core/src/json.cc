#include "hp/core/json.h"

namespace hp::core {
namespace {
constexpr int kMaxDepth = 64;

bool DepthOk(std::string_view text) {
  // Cheap pre-scan so a hostile "[[[[..." cannot exhaust the parser's stack.
  int depth = 0;
  bool in_string = false, escape = false;
  for (char c : text) {
    if (in_string) {
      if (escape) escape = false;
      else if (c == '\\') escape = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '[' || c == '{') {
      if (++depth > kMaxDepth) return false;
    } else if (c == ']' || c == '}') --depth;
  }
  return true;
}
}  // namespace

Result<Json> ParseJson(std::string_view text) {
  if (!DepthOk(text)) return Fail(ErrorCode::kInvalidArgument, "JSON nested too deeply");
  Json j = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    try {
      Json ignored = Json::parse(text.begin(), text.end());
      (void)ignored;
    } catch (const Json::parse_error& e) {
      return Fail(ErrorCode::kInvalidArgument,
                  "malformed JSON at byte " + std::to_string(e.byte));
    }
    return Fail(ErrorCode::kInvalidArgument, "malformed JSON");
  }
  return j;
}

Result<Json> ParseJsonObject(std::string_view text) {
  auto j = ParseJson(text);
  if (!j) return j;
  if (!j->is_object()) return Fail(ErrorCode::kInvalidArgument, "JSON body must be an object");
  return j;
}

Result<std::string> GetString(const Json& obj, std::string_view key) {
  auto it = obj.find(key);
  if (it == obj.end()) return FailField(ErrorCode::kInvalidArgument, std::string(key), "is required");
  if (!it->is_string()) return FailField(ErrorCode::kInvalidArgument, std::string(key), "must be a string");
  return it->get<std::string>();
}

Result<std::optional<std::string>> GetOptionalString(const Json& obj, std::string_view key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::optional<std::string>();
  if (!it->is_string()) return FailField(ErrorCode::kInvalidArgument, std::string(key), "must be a string");
  return std::optional<std::string>(it->get<std::string>());
}

Result<int64_t> GetInt(const Json& obj, std::string_view key) {
  auto it = obj.find(key);
  if (it == obj.end()) return FailField(ErrorCode::kInvalidArgument, std::string(key), "is required");
  if (!it->is_number_integer()) return FailField(ErrorCode::kInvalidArgument, std::string(key), "must be an integer");
  return it->get<int64_t>();
}

Result<std::optional<int64_t>> GetOptionalInt(const Json& obj, std::string_view key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::optional<int64_t>();
  if (!it->is_number_integer()) return FailField(ErrorCode::kInvalidArgument, std::string(key), "must be an integer");
  return std::optional<int64_t>(it->get<int64_t>());
}

Result<std::optional<bool>> GetOptionalBool(const Json& obj, std::string_view key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::optional<bool>();
  if (!it->is_boolean()) return FailField(ErrorCode::kInvalidArgument, std::string(key), "must be true or false");
  return std::optional<bool>(it->get<bool>());
}

}  // namespace hp::core
