// Per-message protocol work on the I/O threads: decoding a client's `send`
// and `ack` frames, and encoding a `message` event once (EncodeEntry) and
// framing it per recipient (Frame).
//
//   ferry-microbench --benchmark_filter=Protocol
#include <benchmark/benchmark.h>

#include "protocol/protocol.h"

namespace ferry::protocol {
namespace {

void BM_ProtocolDecodeSend(benchmark::State& state) {
  const std::string frame =
      R"({"type":"send","id":1042,"chatId":"Zk3xq9c1TjS6v2lQeWm0Ag","clientMsgId":"1042",)"
      R"("body":"k1042 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"})";
  for (auto _ : state) benchmark::DoNotOptimize(DecodeRequest(frame));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ProtocolDecodeSend);

void BM_ProtocolDecodeAck(benchmark::State& state) {
  const std::string frame = R"({"type":"ack","upTo":123456})";
  for (auto _ : state) benchmark::DoNotOptimize(DecodeRequest(frame));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ProtocolDecodeAck);

void BM_ProtocolEncodeMessage(benchmark::State& state) {
  Message m;
  m.message_id = "Q2x1cmVkIGJ5IGEgYmVuY2g";
  m.chat_id = "Zk3xq9c1TjS6v2lQeWm0Ag";
  m.sender = "alice";
  m.sender_client = "c1";
  m.client_msg_id = "1042";
  m.ts = 1'800'000'000'000;
  m.body = "k1042 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
  InboxEntry entry{7, m};
  for (auto _ : state) {
    EncodedEntry encoded = EncodeEntry(entry);
    benchmark::DoNotOptimize(Frame(encoded, 7));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ProtocolEncodeMessage);

}  // namespace
}  // namespace ferry::protocol
