#pragma once
// A tiny XML writer for libvirt documents: escapes text and attributes, nothing else.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hp::provisioning {

using XmlAttrs = std::vector<std::pair<std::string, std::string>>;

std::string XmlEscape(std::string_view s);

class XmlWriter {
 public:
  void Open(std::string_view tag, const XmlAttrs& attrs = {});
  void Close(std::string_view tag);
  void Empty(std::string_view tag, const XmlAttrs& attrs = {});
  void Text(std::string_view tag, std::string_view text, const XmlAttrs& attrs = {});
  const std::string& str() const { return out_; }

 private:
  void Start(std::string_view tag, const XmlAttrs& attrs);
  std::string out_;
};

}  // namespace hp::provisioning
