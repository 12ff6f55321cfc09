#include "bus/redis/resp.h"

#include <hiredis/read.h>

#include <new>

namespace ferry::redis {
namespace {

// hiredis calls these while parsing. A child is stored by value in its
// parent's (pre-sized) array, so only the root is heap-allocated and only
// the root is ever passed to freeObject.
RespValue* Place(const redisReadTask* task) {
  if (task->parent != nullptr) {
    auto* parent = static_cast<RespValue*>(task->parent->obj);
    return &parent->array[static_cast<std::size_t>(task->idx)];
  }
  return new (std::nothrow) RespValue;
}

void* CreateString(const redisReadTask* task, char* str, size_t len) {
  RespValue* v = Place(task);
  if (v == nullptr) return nullptr;
  switch (task->type) {
    case REDIS_REPLY_ERROR:
      v->type = RespValue::Type::error;
      break;
    case REDIS_REPLY_STATUS:
      v->type = RespValue::Type::status;
      break;
    default:
      v->type = RespValue::Type::string;
      break;
  }
  v->str.assign(str, len);
  return v;
}

void* CreateArray(const redisReadTask* task, int elements) {
  if (elements < 0 || elements > kMaxArrayElements) return nullptr;  // reader: OOM error
  RespValue* v = Place(task);
  if (v == nullptr) return nullptr;
  v->type = RespValue::Type::array;
  v->array.resize(static_cast<std::size_t>(elements));
  return v;
}

void* CreateInteger(const redisReadTask* task, long long value) {
  RespValue* v = Place(task);
  if (v == nullptr) return nullptr;
  v->type = RespValue::Type::integer;
  v->integer = value;
  return v;
}

void* CreateNil(const redisReadTask* task) {
  RespValue* v = Place(task);
  if (v == nullptr) return nullptr;
  v->type = RespValue::Type::nil;
  return v;
}

void FreeObject(void* obj) { delete static_cast<RespValue*>(obj); }

redisReplyObjectFunctions kFunctions = {CreateString, CreateArray, CreateInteger, CreateNil,
                                        FreeObject};

}  // namespace

RespReader::RespReader() : reader_(redisReaderCreateWithFunctions(&kFunctions)) {
  if (reader_ == nullptr) throw std::bad_alloc();
}

RespReader::~RespReader() { redisReaderFree(reader_); }

void RespReader::Feed(const char* data, std::size_t size) {
  if (reader_->err == 0) redisReaderFeed(reader_, data, size);
}

RespReader::Result RespReader::Next(RespValue* out) {
  if (reader_->err != 0) return Result::error;
  void* reply = nullptr;
  if (redisReaderGetReply(reader_, &reply) != REDIS_OK) return Result::error;
  if (reply == nullptr) return Result::incomplete;
  auto* value = static_cast<RespValue*>(reply);
  *out = std::move(*value);
  delete value;
  return Result::value;
}

std::string RespReader::error() const { return reader_->err != 0 ? reader_->errstr : ""; }

void AppendCommand(std::string& out, std::initializer_list<std::string_view> args) {
  out += '*';
  out += std::to_string(args.size());
  out += "\r\n";
  for (std::string_view arg : args) {
    out += '$';
    out += std::to_string(arg.size());
    out += "\r\n";
    out += arg;
    out += "\r\n";
  }
}

}  // namespace ferry::redis
