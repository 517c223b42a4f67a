#pragma once
namespace hp::cp {
inline constexpr const char* kVersion = "0.1.0";
}
