// RESP (the Redis protocol, version 2) values, a streaming reader and the
// command encoder. The reader is hiredis's parser (hiredis/read.h) building
// RespValue trees; nothing here does I/O. Not thread-safe: one reader per
// connection, used by one thread.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

struct redisReader;

namespace ferry::redis {

// One reply. `str` holds the text of string/status/error replies, `integer`
// an integer reply, `array` the elements of an array reply (a nil array is
// `nil`).
struct RespValue {
  enum class Type { nil, string, status, error, integer, array };
  Type type = Type::nil;
  long long integer = 0;
  std::string str;
  std::vector<RespValue> array;

  bool is_error() const { return type == Type::error; }
  bool is_array() const { return type == Type::array; }
  // A string or status reply equal to `text`.
  bool Is(std::string_view text) const {
    return (type == Type::string || type == Type::status) && str == text;
  }
};

// The largest array a reply may declare; a larger one is a protocol error
// (it would be allocated before its elements arrive).
inline constexpr int kMaxArrayElements = 1 << 20;

class RespReader {
 public:
  RespReader();
  ~RespReader();
  RespReader(const RespReader&) = delete;
  RespReader& operator=(const RespReader&) = delete;

  enum class Result { value, incomplete, error };

  // Appends bytes read from the socket.
  void Feed(const char* data, std::size_t size);
  // value: `*out` is the next complete reply; incomplete: feed more;
  // error: the stream is not RESP (error() says why) and the reader is
  // unusable: reset the connection.
  Result Next(RespValue* out);
  std::string error() const;

 private:
  redisReader* reader_;
};

// Appends `args` as one RESP command (an array of bulk strings) to `out`.
void AppendCommand(std::string& out, std::initializer_list<std::string_view> args);

}  // namespace ferry::redis
