#include "xml.h"

namespace hp::provisioning {

std::string XmlEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

void XmlWriter::Start(std::string_view tag, const XmlAttrs& attrs) {
  out_ += '<';
  out_ += tag;
  for (const auto& [k, v] : attrs) {
    out_ += ' ';
    out_ += k;
    out_ += "='";
    out_ += XmlEscape(v);
    out_ += '\'';
  }
}
void XmlWriter::Open(std::string_view tag, const XmlAttrs& attrs) {
  Start(tag, attrs);
  out_ += ">\n";
}
void XmlWriter::Close(std::string_view tag) {
  out_ += "</";
  out_ += tag;
  out_ += ">\n";
}
void XmlWriter::Empty(std::string_view tag, const XmlAttrs& attrs) {
  Start(tag, attrs);
  out_ += "/>\n";
}
void XmlWriter::Text(std::string_view tag, std::string_view text, const XmlAttrs& attrs) {
  Start(tag, attrs);
  out_ += '>';
  out_ += XmlEscape(text);
  out_ += "</";
  out_ += tag;
  out_ += ">\n";
}

}  // namespace hp::provisioning
