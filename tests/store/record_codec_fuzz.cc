// libFuzzer target for the decoders of stored values: the JSON ones (chat
// events, receipts, attachment lists)
// (record_codec.h), which read what a database holds, and the SQLite
// store's legacy line ones (sqlite_legacy.h), which its version 3
// migration reads. Beyond not crashing: what decodes re-encodes to JSON
// that decodes to the same value (so a legacy value that decodes migrates
// without loss). Built as a fuzzer with clang (target record_codec_fuzz);
// everywhere record_codec_fuzz_smoke.cc runs it in record_codec_test.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/record_codec.h"
#include "store/sqlite/sqlite_legacy.h"

namespace {

using namespace ferry;

// The encoding is canonical: equal encodings mean equal values.
template <class T, class Decoder>
void CheckRoundTrip(const T& value, std::string (*encode)(const T&), Decoder decode) {
  std::string json = encode(value);
  auto again = decode(json);
  if (!again || encode(*again) != json) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto event = record_codec::DecodeChatEvent(text)) {
    CheckRoundTrip(*event, record_codec::EncodeChatEvent, record_codec::DecodeChatEvent);
  }
  if (auto list = record_codec::DecodeAttachments(text)) {
    CheckRoundTrip(*list, record_codec::EncodeAttachments, record_codec::DecodeAttachments);
  }
  if (auto receipt = record_codec::DecodeReceipt(text)) {
    CheckRoundTrip(*receipt, record_codec::EncodeReceipt, record_codec::DecodeReceipt);
  }
  if (std::optional<ChatEvent> event = sqlite::legacy::DecodeLineChatEvent(text)) {
    CheckRoundTrip(*event, record_codec::EncodeChatEvent, record_codec::DecodeChatEvent);
  }
  if (auto list = sqlite::legacy::DecodeLineAttachments(text)) {
    CheckRoundTrip(*list, record_codec::EncodeAttachments, record_codec::DecodeAttachments);
  }
  return 0;
}
