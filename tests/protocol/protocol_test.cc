#include "protocol/protocol.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <limits>
#include <vector>

namespace ferry::protocol {
namespace {
namespace json = boost::json;

TEST(Decode, Hello) {
  Decoded d = DecodeRequest(R"({"type":"hello","id":1,"token":"t","after":5})");
  ASSERT_EQ(d.error, Errc::ok);
  EXPECT_TRUE(d.has_id);
  EXPECT_EQ(d.id, json::value(1));
  auto& h = std::get<Hello>(d.request);
  EXPECT_EQ(h.token, "t");
  EXPECT_EQ(h.after, 5);
  Decoded d2 = DecodeRequest(R"({"type":"hello","token":"t"})");
  ASSERT_EQ(d2.error, Errc::ok);
  EXPECT_FALSE(std::get<Hello>(d2.request).after);
  EXPECT_FALSE(d2.has_id);
  EXPECT_TRUE(d2.id.is_null());
}

TEST(Decode, EveryRequestType) {
  EXPECT_TRUE(std::holds_alternative<CreateChat>(
      DecodeRequest(R"({"type":"createChat","members":["a"]})").request));
  auto add = DecodeRequest(R"({"type":"addMembers","chatId":"c","members":["x"]})");
  EXPECT_TRUE(std::get<ChangeMembers>(add.request).add);
  auto rm = DecodeRequest(R"({"type":"removeMembers","chatId":"c","members":["x"]})");
  EXPECT_FALSE(std::get<ChangeMembers>(rm.request).add);
  auto send = DecodeRequest(R"({"type":"send","chatId":"c","clientMsgId":7,"body":"b"})");
  ASSERT_EQ(send.error, Errc::ok);
  EXPECT_EQ(std::get<Send>(send.request).client_msg_id, "7");
  EXPECT_EQ(std::get<Ack>(DecodeRequest(R"({"type":"ack","upTo":3})").request).up_to, 3);
  EXPECT_EQ(std::get<Sync>(DecodeRequest(R"({"type":"sync","after":0})").request).after, 0);
  EXPECT_EQ(std::get<LastSeen>(DecodeRequest(R"({"type":"lastSeen","user":"bob"})").request).user,
            "bob");
  EXPECT_TRUE(std::holds_alternative<ListChats>(DecodeRequest(R"({"type":"listChats"})").request));
  EXPECT_TRUE(std::holds_alternative<Pong>(DecodeRequest(R"({"type":"pong"})").request));
  auto at = DecodeRequest(R"({"type":"attachTarget","contentType":"image/png","size":10})");
  EXPECT_EQ(std::get<AttachTarget>(at.request).size, 10);
}

TEST(Decode, Errors) {
  struct Case {
    const char* text;
    const char* message_part;
  };
  for (const Case& c : {
           Case{"{", "malformed"},
           Case{"[]", "object"},
           Case{R"({"id":1})", "type"},
           Case{R"({"type":5})", "type"},
           Case{R"({"type":"fly"})", "unknown type"},
           Case{R"({"type":"send","chatId":"c","body":"b"})", "clientMsgId"},
           Case{R"({"type":"send","chatId":"c","clientMsgId":"","body":"b"})", "clientMsgId"},
           Case{R"({"type":"send","chatId":1,"clientMsgId":"x","body":"b"})", "chatId"},
           Case{R"({"type":"ack","upTo":-1})", "upTo"},
           Case{R"({"type":"ack","upTo":1.5})", "upTo"},
           Case{R"({"type":"createChat","members":[1]})", "members"},
           Case{R"({"type":"hello"})", "token"},
       }) {
    Decoded d = DecodeRequest(c.text);
    EXPECT_EQ(d.error, Errc::bad_request) << c.text;
    EXPECT_NE(d.message.find(c.message_part), std::string::npos) << c.text << " -> " << d.message;
  }
  // The id survives a field error so the reply can carry it.
  Decoded d = DecodeRequest(R"({"type":"ack","id":"x1"})");
  EXPECT_EQ(d.error, Errc::bad_request);
  EXPECT_EQ(d.id, json::value("x1"));
}

// Issue 10: an id of a type the contract does not allow was ignored and the
// request run, answered with "id": null. Such a request is refused.
TEST(Decode, IdMustBeStringOrInteger) {
  for (const char* id :
       {"null", "true", "1.5", "1.0", "1e3", "[1]", "{}", "18446744073709551616"}) {
    for (const char* request : {R"("type":"listChats")", R"("type":"pong")",
                                R"("type":"ack","upTo":1)", R"("type":"hello","token":"t")"}) {
      std::string text = std::string("{") + request + R"(,"id":)" + id + "}";
      Decoded d = DecodeRequest(text);
      EXPECT_EQ(d.error, Errc::bad_request) << text;
      EXPECT_NE(d.message.find("'id'"), std::string::npos) << text << " -> " << d.message;
      EXPECT_FALSE(d.has_id) << text;
      EXPECT_TRUE(d.id.is_null()) << text;
    }
  }
  // Every integer JSON holds exactly is an id, echoed as it came.
  for (const char* id : {"-1", "0", "9223372036854775807", "18446744073709551615", R"("")"}) {
    std::string text = std::string(R"({"type":"listChats","id":)") + id + "}";
    Decoded d = DecodeRequest(text);
    EXPECT_EQ(d.error, Errc::ok) << text;
    EXPECT_TRUE(d.has_id) << text;
    EXPECT_EQ(json::serialize(d.id), id) << text;
  }
}

TEST(Decode, VersionOnePointOneRequests) {
  auto mark =
      DecodeRequest(R"({"type":"markRead","id":1,"chatId":"c","upTo":{"ts":12,"messageId":"m"}})");
  ASSERT_EQ(mark.error, Errc::ok) << mark.message;
  EXPECT_EQ(std::get<MarkRead>(mark.request).chat_id, "c");
  EXPECT_EQ(std::get<MarkRead>(mark.request).up_to, (Position{12, "m"}));
  EXPECT_EQ(std::get<ChatReceipts>(
                DecodeRequest(R"({"type":"chatReceipts","id":1,"chatId":"c"})").request)
                .chat_id,
            "c");
  auto typing = DecodeRequest(R"({"type":"typing","chatId":"c","state":"paused"})");
  ASSERT_EQ(typing.error, Errc::ok);
  EXPECT_FALSE(typing.has_id);
  EXPECT_FALSE(std::get<Typing>(typing.request).composing);
  auto privacy = DecodeRequest(R"({"type":"setPrivacy","id":2,"lastSeen":"nobody"})");
  ASSERT_EQ(privacy.error, Errc::ok);
  EXPECT_FALSE(std::get<SetPrivacy>(privacy.request).read_receipts.has_value());
  EXPECT_EQ(std::get<SetPrivacy>(privacy.request).last_seen_visible, false);
  auto both = DecodeRequest(R"({"type":"setPrivacy","readReceipts":false,"lastSeen":"everyone"})");
  EXPECT_EQ(std::get<SetPrivacy>(both.request).read_receipts, false);
  EXPECT_EQ(std::get<SetPrivacy>(both.request).last_seen_visible, true);

  for (const char* bad : {
           R"({"type":"markRead","chatId":"c"})",
           R"({"type":"markRead","chatId":"c","upTo":5})",
           R"({"type":"markRead","chatId":"c","upTo":{"ts":"1","messageId":"m"}})",
           R"({"type":"markRead","chatId":"c","upTo":{"ts":-1,"messageId":"m"}})",
           R"({"type":"markRead","chatId":"c","upTo":{"ts":1,"messageId":""}})",
           R"({"type":"markRead","chatId":"c","upTo":{"ts":1}})",
           R"({"type":"chatReceipts"})",
           R"({"type":"typing","chatId":"c","state":"typing"})",
           R"({"type":"typing","chatId":"c"})",
           R"({"type":"setPrivacy"})",
           R"({"type":"setPrivacy","readReceipts":"no"})",
           R"({"type":"setPrivacy","lastSeen":"friends"})",
       }) {
    EXPECT_EQ(DecodeRequest(bad).error, Errc::bad_request) << bad;
  }
}

TEST(Encode, ReceiptEntryAndTypingFrame) {
  Receipt r{"c", "bob", ReceiptKind::read, Position{12, "m"}, 99};
  std::string frame = Frame(EncodeEntry(InboxEntry{7, r}), 7);
  json::object o = json::parse(frame).as_object();
  EXPECT_EQ(o["type"], "receipt");
  EXPECT_EQ(o["seq"], 7);
  EXPECT_EQ(o["chatId"], "c");
  EXPECT_EQ(o["user"], "bob");
  EXPECT_EQ(o["kind"], "read");
  EXPECT_EQ(o["upTo"], (json::object{{"ts", 12}, {"messageId", "m"}}));
  EXPECT_EQ(o["ts"], 99);
  json::object t = json::parse(TypingFrame("c", "bob", true)).as_object();
  EXPECT_EQ(t, (json::object{
                   {"type", "typing"}, {"chatId", "c"}, {"user", "bob"}, {"state", "composing"}}));
}

TEST(ValidUser, Rule) {
  EXPECT_TRUE(ValidUser("abc"));
  EXPECT_TRUE(ValidUser("a_b.c-9"));
  EXPECT_TRUE(ValidUser(std::string(32, 'a')));
  EXPECT_FALSE(ValidUser("ab"));
  EXPECT_FALSE(ValidUser(std::string(33, 'a')));
  EXPECT_FALSE(ValidUser("Abc"));
  EXPECT_FALSE(ValidUser("a b"));
  EXPECT_FALSE(ValidUser("ab\xc3\xa9"));
}

TEST(Encode, Replies) {
  EXPECT_EQ(OkReply(json::value(3), json::object{{"chatId", "c"}}),
            R"({"type":"ok","id":3,"chatId":"c"})");
  EXPECT_EQ(OkReply(json::value("a")), R"({"type":"ok","id":"a"})");
  EXPECT_EQ(ErrorReply(nullptr, Errc::forbidden, "no"),
            R"({"type":"error","id":null,"code":"forbidden","message":"no"})");
}

TEST(Encode, MessageFrameIsValidJsonWithSeq) {
  Message m{"m1", "c1", "alice", "cl1", "x\"1", 1234, "hi \"there\"\n", {}};
  EncodedEntry e = EncodeEntry(InboxEntry{0, m});
  json::value v = json::parse(Frame(e, 42));
  EXPECT_EQ(v.at("type"), "message");
  EXPECT_EQ(v.at("seq"), 42);
  EXPECT_EQ(v.at("body"), "hi \"there\"\n");
  EXPECT_EQ(v.at("clientMsgId"), "x\"1");
  EXPECT_EQ(v.at("fromClient"), "cl1");
  EXPECT_TRUE(v.at("attachments").as_array().empty());
  // The same encoding serves every recipient.
  EXPECT_EQ(json::parse(Frame(e, 7)).at("seq"), 7);
}

// A message's tail is written by hand (protocol.cc): it must be byte for
// byte what Boost.JSON writes for the same object, escapes included.
TEST(Encode, MessageTailIsWhatBoostJsonWrites) {
  std::string every_byte(1, '\0');
  for (int c = 1; c < 256; ++c) every_byte.push_back(static_cast<char>(c));
  const std::vector<Message> cases{
      {"m1", "c1", "alice", "cl1", "42", 1234, "hello", {}},
      {"", "", "", "", "", 0, "", {}},
      {"m\"1", "c\\1", "a\nb", "cl\t1", "x\x01y", -5, every_byte, {}},
      {"m/1", "c1", "\u00e5lice", "cl1", "\u2028", std::numeric_limits<std::int64_t>::max(),
       "\u65e5\u672c \x7f \xff \x1f\"\\", {}},
  };
  for (const Message& m : cases) {
    json::object o;
    o["chatId"] = m.chat_id;
    o["messageId"] = m.message_id;
    o["ts"] = m.ts;
    o["from"] = m.sender;
    o["fromClient"] = m.sender_client;
    o["body"] = m.body;
    o["clientMsgId"] = m.client_msg_id;
    EXPECT_EQ(EncodeEntry(InboxEntry{0, m}).tail, json::serialize(o).substr(1));
  }
}

TEST(Encode, AttachmentUrlsAreMintedPerRecipient) {
  Message m{"m1", "c1", "alice", "cl1", "x", 1, "look",
            {{"att1", "image/png", 10, "ff00"}, {"att2", "text/plain; charset=utf-8", 3, ""}}};
  EncodedEntry e = EncodeEntry(InboxEntry{0, m});
  auto frame_for = [&](const std::string& client) {
    return json::parse(Frame(e, 1, [&](const std::string& id) { return "u/" + id + "/" + client; }));
  };
  json::value a = frame_for("A"), b = frame_for("B");
  auto& atts = a.at("attachments").as_array();
  ASSERT_EQ(atts.size(), 2u);
  EXPECT_EQ(atts[0].at("attachmentId"), "att1");
  EXPECT_EQ(atts[0].at("contentType"), "image/png");
  EXPECT_EQ(atts[0].at("size"), 10);
  EXPECT_EQ(atts[0].at("url"), "u/att1/A");
  EXPECT_EQ(atts[0].at("sha256"), "ff00");
  EXPECT_FALSE(atts[1].as_object().contains("sha256"));
  EXPECT_EQ(b.at("attachments").as_array()[1].at("url"), "u/att2/B");
  EXPECT_EQ(b.at("body"), "look");
}

TEST(Encode, ChatEventAndPing) {
  ChatEvent ev{"c1", "membersAdded", {"bob", "carol"}, "alice", 99};
  json::value v = json::parse(Frame(EncodeEntry(InboxEntry{0, ev}), 3));
  EXPECT_EQ(v.at("type"), "chat");
  EXPECT_EQ(v.at("event"), "membersAdded");
  EXPECT_EQ(v.at("members").as_array().size(), 2u);
  EXPECT_EQ(v.at("by"), "alice");
  EXPECT_EQ(json::parse(PingFrame(12)).at("head"), 12);
}

TEST(Bus, RoundTrip) {
  BusEntries e{{"message", "\"body\":\"line1\\nline2\"}",
                {{"a1", "text/plain; x=\"y\"", 7, "ab12"}, {"a2", "image/png", 1, ""}}},
               {{"clientA", 5}, {"clientB", 9}}};
  auto decoded = DecodeBus(EncodeBus(e));
  ASSERT_TRUE(decoded);
  auto& d = std::get<BusEntries>(*decoded);
  EXPECT_EQ(d.entry.type, "message");
  EXPECT_EQ(d.entry.tail, e.entry.tail);
  EXPECT_EQ(d.deliveries, e.deliveries);
  ASSERT_EQ(d.entry.attachments.size(), 2u);
  EXPECT_EQ(d.entry.attachments[0].attachment_id, "a1");
  EXPECT_EQ(d.entry.attachments[0].content_type, "text/plain; x=\"y\"");
  EXPECT_EQ(d.entry.attachments[0].size, 7);
  EXPECT_EQ(d.entry.attachments[0].sha256, "ab12");
  EXPECT_EQ(d.entry.attachments[1].sha256, "");

  auto k = DecodeBus(EncodeBus(BusKick{"c1", "conn9"}));
  ASSERT_TRUE(k);
  EXPECT_EQ(std::get<BusKick>(*k).client_id, "c1");
  EXPECT_EQ(std::get<BusKick>(*k).conn_id, "conn9");
  auto r = DecodeBus(EncodeBus(BusRevoke{"c2"}));
  ASSERT_TRUE(r);
  EXPECT_EQ(std::get<BusRevoke>(*r).client_id, "c2");
}

// What redis-cli shows: one JSON object, the event as the client gets it.
TEST(Bus, PayloadIsReadableJson) {
  Message m{"m1", "chat1", "alice", "cl1", "x", 1234, "hi \"there\"\n", {{"a1", "image/png", 10, ""}}};
  BusEntries e{EncodeEntry(InboxEntry{0, m}), {{"clientA", 5}}};
  json::value v = json::parse(EncodeBus(e));
  EXPECT_EQ(v.at("kind"), "entries");
  EXPECT_EQ(v.at("type"), "message");
  EXPECT_EQ(v.at("deliveries"), json::parse(R"([["clientA",5]])"));
  EXPECT_EQ(v.at("attachments"),
            json::parse(R"([{"attachmentId":"a1","contentType":"image/png","size":10,"sha256":""}])"));
  EXPECT_EQ(v.at("event").at("body"), "hi \"there\"\n");
  EXPECT_EQ(v.at("event").at("messageId"), "m1");
  EXPECT_EQ(json::parse(EncodeBus(BusKick{"c1", "conn9"})),
            json::parse(R"({"kind":"kick","clientId":"c1","connId":"conn9"})"));
  EXPECT_EQ(json::parse(EncodeBus(BusRevoke{"c2"})),
            json::parse(R"({"kind":"revoke","clientId":"c2"})"));
  // No attachments: the member is left out; an empty event is "{}".
  BusEntries bare{{"chat", "}", {}}, {}};
  EXPECT_EQ(EncodeBus(bare), R"({"kind":"entries","type":"chat","deliveries":[],"event":{}})");
}

// The event's text reaches clients byte for byte: escapes, nesting and
// spacing as the encoder wrote them.
TEST(Bus, EventTextPassesThroughUnchanged) {
  const std::string tail = R"("a":"\u00e9\"}{","b":[1, {"c":{}}] ,"d":-1.5e3 })";
  auto decoded = DecodeBus(EncodeBus(BusEntries{{"message", tail, {}}, {{"c", 1}}}));
  ASSERT_TRUE(decoded);
  EXPECT_EQ(std::get<BusEntries>(*decoded).entry.tail, tail);
}

// The big-chat mark is the "bigChat" member; small chats have none.
TEST(Bus, BigChatMarkRoundTrips) {
  BusEntries e{{"message", "}", {}}, {{"clientA", 5}}};
  e.chat_id = "chat42";
  EXPECT_FALSE(json::parse(EncodeBus(e)).as_object().contains("bigChat"));  // not big
  auto plain = DecodeBus(EncodeBus(e));
  ASSERT_TRUE(plain);
  EXPECT_FALSE(std::get<BusEntries>(*plain).big_chat);
  EXPECT_EQ(std::get<BusEntries>(*plain).chat_id, "");

  e.big_chat = true;
  EXPECT_EQ(json::parse(EncodeBus(e)).at("bigChat"), "chat42");
  auto big = DecodeBus(EncodeBus(e));
  ASSERT_TRUE(big);
  const auto& d = std::get<BusEntries>(*big);
  EXPECT_TRUE(d.big_chat);
  EXPECT_EQ(d.chat_id, "chat42");
  EXPECT_EQ(d.deliveries, e.deliveries);
  EXPECT_EQ(d.entry.tail, "}");
}

// Any JSON spelling of a payload decodes: spacing, member order (but for
// "event", which is last), escapes, and members a newer node may add.
TEST(Bus, DecodesAnyJsonSpelling) {
  auto entries = DecodeBus(
      " { \"deliveries\" : [ [ \"c\\u0031\" , 7 ] ] , \"new\" : {\"x\":[1,{\"y\":null}]},"
      " \"type\":\"chat\", \"kind\":\"entries\", \"attachments\":[{\"sha256\":\"\",\"later\":[true],"
      " \"size\":3,\"contentType\":\"a\\/b\",\"attachmentId\":\"a1\"}], \"event\" : {\"k\":1} } \n");
  ASSERT_TRUE(entries);
  const auto& e = std::get<BusEntries>(*entries);
  EXPECT_EQ(e.deliveries, (std::vector<std::pair<std::string, Seq>>{{"c1", 7}}));
  EXPECT_EQ(e.entry.type, "chat");
  ASSERT_EQ(e.entry.attachments.size(), 1u);
  EXPECT_EQ(e.entry.attachments[0].content_type, "a/b");
  EXPECT_EQ(e.entry.tail, "\"k\":1}");
  auto revoke = DecodeBus(R"({"clientId":"c2","extra":1.5,"kind":"revoke"})");
  ASSERT_TRUE(revoke);
  EXPECT_EQ(std::get<BusRevoke>(*revoke).client_id, "c2");
}

TEST(Bus, RejectsMalformedPayloads) {
  const char* bad[] = {
      "",
      "not json",
      "[]",
      "{}",
      R"({"kind":"what","clientId":"c"})",
      // the old line format
      "E\nmessage\n0\n1\nc1 5\n}",
      "R\nc2",
      // kick and revoke need their ids
      R"({"kind":"revoke"})",
      R"({"kind":"kick","clientId":"c1"})",
      R"({"kind":"revoke","clientId":5})",
      R"({"kind":"revoke","clientId":"c"} trailing)",
      R"({"kind":"revoke","clientId":"c")",
      // entries need type, deliveries and an object event, last
      R"({"kind":"entries","deliveries":[],"event":{}})",
      R"({"kind":"entries","type":"chat","event":{}})",
      R"({"kind":"entries","type":"chat","deliveries":[]})",
      R"({"kind":"entries","type":"chat","deliveries":[],"event":"x"})",
      R"({"kind":"entries","type":"chat","deliveries":[],"event":{},"more":1})",
      R"({"kind":"entries","type":"chat","deliveries":[],"event":{"a":}})",
      R"({"kind":"entries","type":"chat","deliveries":[],"event":{"a":1})",
      R"({"kind":"entries","type":"chat","deliveries":[],"event":{}}})",
      R"({"kind":"revoke","clientId":"c","event":{}})",
      // deliveries are [clientId, seq] pairs
      R"({"kind":"entries","type":"chat","deliveries":[["c"]],"event":{}})",
      R"({"kind":"entries","type":"chat","deliveries":[["c",1,2]],"event":{}})",
      R"({"kind":"entries","type":"chat","deliveries":[[1,"c"]],"event":{}})",
      R"({"kind":"entries","type":"chat","deliveries":[["c","1"]],"event":{}})",
      R"({"kind":"entries","type":"chat","deliveries":[["c",1.5]],"event":{}})",
      R"({"kind":"entries","type":"chat","deliveries":[["c",18446744073709551615]],"event":{}})",
      R"({"kind":"entries","type":"chat","deliveries":[{"c":1}],"event":{}})",
      R"({"kind":"entries","type":"chat","deliveries":{},"event":{}})",
      // attachments need all four fields, typed
      R"({"kind":"entries","type":"m","attachments":[{"attachmentId":"a","contentType":"t","size":1}],"deliveries":[],"event":{}})",
      R"({"kind":"entries","type":"m","attachments":[{"attachmentId":"a","contentType":"t","size":"1","sha256":""}],"deliveries":[],"event":{}})",
      R"({"kind":"entries","type":"m","attachments":["a"],"deliveries":[],"event":{}})",
      // a big-chat mark names its chat
      R"({"kind":"entries","type":"chat","bigChat":"","deliveries":[],"event":{}})",
      // not UTF-8
      "{\"kind\":\"revoke\",\"clientId\":\"\xff\"}",
      "{\"kind\":\"entries\",\"type\":\"chat\",\"deliveries\":[],\"event\":{\"a\":\"\xc3\"}}",
  };
  for (const char* payload : bad) EXPECT_FALSE(DecodeBus(payload)) << payload;
}

}  // namespace
}  // namespace ferry::protocol
