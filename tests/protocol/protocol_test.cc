#include "protocol/protocol.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

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
  // Objects, arrays and floats are not ids.
  EXPECT_FALSE(DecodeRequest(R"({"type":"pong","id":{}})").has_id);
  EXPECT_FALSE(DecodeRequest(R"({"type":"pong","id":1.5})").has_id);
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
                {{"a1", "text/plain; x=y", 7, "ab12"}, {"a2", "image/png", 1, ""}}},
               {{"clientA", 5}, {"clientB", 9}}};
  auto decoded = DecodeBus(EncodeBus(e));
  ASSERT_TRUE(decoded);
  auto& d = std::get<BusEntries>(*decoded);
  EXPECT_EQ(d.entry.type, "message");
  EXPECT_EQ(d.entry.tail, e.entry.tail);
  EXPECT_EQ(d.deliveries, e.deliveries);
  ASSERT_EQ(d.entry.attachments.size(), 2u);
  EXPECT_EQ(d.entry.attachments[0].content_type, "text/plain; x=y");
  EXPECT_EQ(d.entry.attachments[0].size, 7);
  EXPECT_EQ(d.entry.attachments[0].sha256, "ab12");
  EXPECT_EQ(d.entry.attachments[1].sha256, "");

  auto k = DecodeBus(EncodeBus(BusKick{"c1", "conn9"}));
  ASSERT_TRUE(k);
  EXPECT_EQ(std::get<BusKick>(*k).conn_id, "conn9");
  auto r = DecodeBus(EncodeBus(BusRevoke{"c2"}));
  ASSERT_TRUE(r);
  EXPECT_EQ(std::get<BusRevoke>(*r).client_id, "c2");

  EXPECT_FALSE(DecodeBus(""));
  EXPECT_FALSE(DecodeBus("X\n"));
  EXPECT_FALSE(DecodeBus("E\nmessage\n0\n2\nc1 5\n"));
  EXPECT_FALSE(DecodeBus("E\nmessage\n0\n1\nc1 notanumber\n{}"));
  EXPECT_FALSE(DecodeBus("E\nmessage\n1\na1 x - text/plain\n0\n{}"));
  EXPECT_FALSE(DecodeBus("E\nmessage\n1\na1 5 text/plain\n0\n{}"));
}

// The big-chat mark rides on the "E" line; small chats keep the plain line.
TEST(Bus, BigChatMarkRoundTrips) {
  BusEntries e{{"message", "}", {}}, {{"clientA", 5}}};
  e.chat_id = "chat42";
  EXPECT_TRUE(EncodeBus(e).starts_with("E\nmessage\n"));  // not big: no chat id
  auto plain = DecodeBus(EncodeBus(e));
  ASSERT_TRUE(plain);
  EXPECT_FALSE(std::get<BusEntries>(*plain).big_chat);
  EXPECT_EQ(std::get<BusEntries>(*plain).chat_id, "");

  e.big_chat = true;
  EXPECT_TRUE(EncodeBus(e).starts_with("E chat42\nmessage\n"));
  auto big = DecodeBus(EncodeBus(e));
  ASSERT_TRUE(big);
  const auto& d = std::get<BusEntries>(*big);
  EXPECT_TRUE(d.big_chat);
  EXPECT_EQ(d.chat_id, "chat42");
  EXPECT_EQ(d.deliveries, e.deliveries);
  EXPECT_EQ(d.entry.tail, "}");

  EXPECT_FALSE(DecodeBus("E \nmessage\n0\n0\n}"));  // a mark without a chat id
}

}  // namespace
}  // namespace ferry::protocol
