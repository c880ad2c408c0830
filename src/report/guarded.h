// Readers of a results document read JSON that may come from another dec version, an import or a
// hand edit. Each public reader runs inside reading_results: a field of the wrong type or shape
// becomes an error that says the document is malformed, never an exception out of the reader
// (found by fuzz/results_fuzz.cpp). Internal to src/report and src/server.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "core/result.h"

namespace dec::report {

// "[json.exception.type_error.306] cannot use value() with null" → "cannot use value() with null".
inline std::string malformed_results_message(const char* what) {
  std::string reason = what;
  if (reason.rfind("[json.exception.", 0) == 0) {
    const size_t end = reason.find("] ");
    if (end != std::string::npos) reason = reason.substr(end + 2);
  }
  return "malformed results document (a field has the wrong type or shape: " + reason + ")";
}

template <class T, class F>
Result<T> reading_results(F&& read) {
  try {
    return read();
  } catch (const nlohmann::json::exception& e) {
    return make_error(malformed_results_message(e.what()));
  }
}

}  // namespace dec::report
