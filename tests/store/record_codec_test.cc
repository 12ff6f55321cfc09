// The stored JSON forms (record_codec.h): round trips, the exact text the
// backends store, what PostgreSQL's jsonb gives back, and malformed values.
#include "store/record_codec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ferry::record_codec {
namespace {

using ::testing::HasSubstr;

TEST(RecordCodec, ChatEventRoundTrips) {
  ChatEvent event{"c1", "membersAdded", {"bob", "ca\"rol\n"}, "alice", 1'800'000'000'000};
  std::string json = EncodeChatEvent(event);
  EXPECT_EQ(json,
            R"({"chatId":"c1","event":"membersAdded","members":["bob","ca\"rol\n"],)"
            R"("by":"alice","ts":1800000000000})");
  Decoded<ChatEvent> back = DecodeChatEvent(json);
  ASSERT_TRUE(back) << back.error().reason;
  EXPECT_EQ(back->chat_id, event.chat_id);
  EXPECT_EQ(back->event, event.event);
  EXPECT_EQ(back->members, event.members);
  EXPECT_EQ(back->by, event.by);
  EXPECT_EQ(back->ts, event.ts);

  Decoded<ChatEvent> none = DecodeChatEvent(EncodeChatEvent(ChatEvent{"c", "created", {}, "a", 0}));
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->members.empty());
}

TEST(RecordCodec, AttachmentsRoundTrip) {
  std::vector<AttachmentRef> refs = {
      {"aB-_1", "text/plain; charset=\"utf-8\"", 12, std::string(64, 'f')},
      {"x", "a b  c ", 0, ""},
      {"y", "", 1LL << 40, "00"}};
  std::string json = EncodeAttachments(refs);
  Decoded<std::vector<AttachmentRef>> back = DecodeAttachments(json);
  ASSERT_TRUE(back) << back.error().reason;
  ASSERT_EQ(back->size(), refs.size());
  for (std::size_t i = 0; i < refs.size(); ++i) {
    EXPECT_EQ((*back)[i].attachment_id, refs[i].attachment_id) << i;
    EXPECT_EQ((*back)[i].content_type, refs[i].content_type) << i;
    EXPECT_EQ((*back)[i].size, refs[i].size) << i;
    EXPECT_EQ((*back)[i].sha256, refs[i].sha256) << i;
  }
  EXPECT_EQ(EncodeAttachments({}), "[]");
  EXPECT_TRUE(DecodeAttachments("[]")->empty());
  EXPECT_EQ(EncodeAttachments({{"a1", "image/png", 7, ""}}),
            R"([{"attachmentId":"a1","contentType":"image/png","size":7,"sha256":""}])");
}

// jsonb hands values back reordered and spaced, with any extra keys a later
// version may add.
TEST(RecordCodec, ReadsJsonbOutput) {
  Decoded<ChatEvent> event = DecodeChatEvent(
      R"({"by": "alice", "ts": 99, "event": "created", "chatId": "c1", "members": ["a", "b"], "x": {}})");
  ASSERT_TRUE(event) << event.error().reason;
  EXPECT_EQ(event->chat_id, "c1");
  EXPECT_EQ(event->members, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(event->ts, 99);
  Decoded<std::vector<AttachmentRef>> list = DecodeAttachments(
      R"([{"size": 7, "sha256": "", "contentType": "image/png", "attachmentId": "a1"}])");
  ASSERT_TRUE(list) << list.error().reason;
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].size, 7);
}

TEST(RecordCodec, MalformedChatEventsNameTheFault) {
  auto reason = [](std::string_view text) {
    Decoded<ChatEvent> d = DecodeChatEvent(text);
    return d ? std::string("decoded") : d.error().reason;
  };
  const std::string good_but = R"({"chatId":"c","event":"created","by":"a","members":[],)";
  EXPECT_THAT(reason(""), HasSubstr("not JSON"));
  EXPECT_THAT(reason("c1\ncreated\nalice\n5\nbob"), HasSubstr("not JSON"));  // the old line form
  EXPECT_THAT(reason("[]"), HasSubstr("must be a JSON object"));
  EXPECT_THAT(reason(good_but + "\"ts\":\"5\"}"), HasSubstr("field 'ts' must be an integer"));
  EXPECT_THAT(reason(good_but + "\"ts\":5.5}"), HasSubstr("field 'ts' must be an integer"));
  EXPECT_THAT(reason(good_but + "\"ts\":18446744073709551615}"),
              HasSubstr("field 'ts' must be an integer"));
  EXPECT_THAT(reason(good_but + "\"x\":5}"), HasSubstr("missing field 'ts'"));
  EXPECT_THAT(reason(R"({"chatId":"c","event":"created","by":"a","members":["a",1],"ts":1})"),
              HasSubstr("field 'members' must be an array of strings"));
  EXPECT_THAT(reason(R"({"chatId":"c","event":"created","by":"a","members":"a","ts":1})"),
              HasSubstr("field 'members' must be an array of strings"));
  EXPECT_THAT(reason(R"({"chatId":1,"event":"created","by":"a","members":[],"ts":1})"),
              HasSubstr("field 'chatId' must be a string"));
  EXPECT_THAT(reason(R"({"event":"created","by":"a","members":[],"ts":1})"),
              HasSubstr("missing field 'chatId'"));
}

TEST(RecordCodec, MalformedAttachmentListsNameTheFault) {
  auto reason = [](std::string_view text) {
    Decoded<std::vector<AttachmentRef>> d = DecodeAttachments(text);
    return d ? std::string("decoded") : d.error().reason;
  };
  EXPECT_THAT(reason(""), HasSubstr("not JSON"));  // version 2 stored "" for none
  EXPECT_THAT(reason("id 1 - type"), HasSubstr("not JSON"));
  EXPECT_THAT(reason("{}"), HasSubstr("must be a JSON array"));
  EXPECT_THAT(reason("[1]"), HasSubstr("an attachment must be a JSON object"));
  EXPECT_THAT(reason(R"([{"attachmentId":"a1"}])"), HasSubstr("missing field 'contentType'"));
  EXPECT_THAT(reason(R"([{"attachmentId":"a","contentType":"t","size":"7","sha256":""}])"),
              HasSubstr("field 'size' must be an integer"));
  EXPECT_THAT(reason(R"([{"attachmentId":"a","contentType":"t","size":7}])"),
              HasSubstr("missing field 'sha256'"));
  EXPECT_THAT(reason(R"([{"attachmentId":"a","contentType":"t","size":7,"sha256":""},[]])"),
              HasSubstr("an attachment must be a JSON object"));
}

}  // namespace
}  // namespace ferry::record_codec
