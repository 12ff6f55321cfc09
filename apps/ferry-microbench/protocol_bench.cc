// Per-message protocol work on the I/O threads: decoding a client's `send`
// and `ack` frames, encoding a `message` event once (EncodeEntry) and
// framing it per recipient (Frame), and the bus payload a node publishes
// (EncodeBus) and every receiving node decodes (DecodeBus), for one
// recipient client (a `u:{user}` channel) and for 64 (a big chat's
// `c:{chat}` channel).
//
//   ferry-microbench --benchmark_filter='Protocol|Bus'
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>

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

// The message of the `send` frame above, as stored.
Message BenchMessage() {
  Message m;
  m.message_id = "Q2x1cmVkIGJ5IGEgYmVuY2g";
  m.chat_id = "Zk3xq9c1TjS6v2lQeWm0Ag";
  m.sender = "alice";
  m.sender_client = "c1";
  m.client_msg_id = "1042";
  m.ts = 1'800'000'000'000;
  m.body = "k1042 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
  return m;
}

void BM_ProtocolEncodeMessage(benchmark::State& state) {
  InboxEntry entry{7, BenchMessage()};
  for (auto _ : state) {
    EncodedEntry encoded = EncodeEntry(entry);
    benchmark::DoNotOptimize(Frame(encoded, 7));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ProtocolEncodeMessage);

// BenchMessage() on the bus to `clients` recipient clients (more than one:
// a big chat's channel).
BusEntries BusMessageTo(std::int64_t clients) {
  Message m = BenchMessage();
  BusEntries e{EncodeEntry(InboxEntry{7, m}), {}, m.chat_id, clients > 1};
  for (std::int64_t i = 0; i < clients; ++i) {
    e.deliveries.emplace_back("cl" + std::to_string(100000 + i) + "xYz0aBcD", 1000 + i);
  }
  return e;
}

void BM_BusEncodeEntries(benchmark::State& state) {
  const BusMessage message = BusMessageTo(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(EncodeBus(message));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BusEncodeEntries)->Arg(1)->Arg(64);

void BM_BusDecodeEntries(benchmark::State& state) {
  const std::string payload = EncodeBus(BusMessageTo(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(DecodeBus(payload));
  state.SetItemsProcessed(state.iterations());
  state.counters["payload_bytes"] = static_cast<double>(payload.size());
}
BENCHMARK(BM_BusDecodeEntries)->Arg(1)->Arg(64);

}  // namespace
}  // namespace ferry::protocol
