// libFuzzer target for the bus payload decoder (DecodeBus), the input a
// node takes from every other node through Redis. Beyond not crashing:
// whatever decodes must re-encode to a payload that decodes to the same
// message, and an entry's event must be JSON, since it goes to clients as
// it is. Built as a fuzzer with clang (target bus_payload_fuzz); everywhere
// bus_payload_fuzz_smoke.cc runs it in protocol_test.
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "protocol/protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ferry::protocol;
  std::optional<BusMessage> message =
      DecodeBus(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!message) return 0;
  // The encoding is canonical, so equal encodings mean equal messages.
  std::string encoded = EncodeBus(*message);
  std::optional<BusMessage> again = DecodeBus(encoded);
  if (!again || EncodeBus(*again) != encoded) std::abort();
  if (const auto* entries = std::get_if<BusEntries>(&*message)) {
    boost::system::error_code ec;
    boost::json::value event = boost::json::parse("{" + entries->entry.tail, ec);
    if (ec || !event.is_object()) std::abort();
  }
  return 0;
}
