// Escaping text for HTML (element content and double-quoted attributes), shared by the pages the
// server writes itself (report.html, the "web app not built" page).
#pragma once

#include <string>

namespace dec::server {

inline std::string html_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace dec::server
