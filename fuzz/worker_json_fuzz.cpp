// The codecs between dec and its load agents (work requests, results with serialized
// histograms, status): never crash or throw on any body, and whatever they accept encodes back
// to a document that decodes to the same encoding. Input: the JSON text; its first byte picks
// the codec.
#include "fuzz/fuzz.h"
#include "worker/worker.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0: {
      auto request = dec::worker::work_request_from_json(text);
      if (!request.ok()) break;
      const std::string once = dec::worker::work_request_to_json(*request);
      auto again = dec::worker::work_request_from_json(once);
      FUZZ_CHECK(again.ok(), once + " -> " + again.error());
      FUZZ_CHECK(dec::worker::work_request_to_json(*again) == once, once);
      break;
    }
    case 1: {
      auto result = dec::worker::work_result_from_json(text);
      if (!result.ok()) break;
      const std::string once = dec::worker::work_result_to_json(*result);
      auto again = dec::worker::work_result_from_json(once);
      FUZZ_CHECK(again.ok(), once + " -> " + again.error());
      FUZZ_CHECK(dec::worker::work_result_to_json(*again) == once, once);
      break;
    }
    default: {
      auto status = dec::worker::worker_status_from_json(text);
      if (!status.ok()) break;
      const std::string once = dec::worker::worker_status_to_json(*status);
      auto again = dec::worker::worker_status_from_json(once);
      FUZZ_CHECK(again.ok(), once + " -> " + again.error());
      FUZZ_CHECK(dec::worker::worker_status_to_json(*again) == once, once);
      break;
    }
  }
  return 0;
}
