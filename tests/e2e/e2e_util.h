// Small helpers shared by the end-to-end tests.
#pragma once

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

#include "client/client.h"
#include "e2e/ferryd_process.h"

namespace ferry::testing {

using namespace std::chrono_literals;
namespace json = boost::json;

inline std::string Str(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

inline std::int64_t Int(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_int64() ? v->get_int64() : -1;
}

// The next message/chat entry of `s`, failing the test if none comes in time.
inline json::object NextEntry(client::Session& s, client::Ms timeout = 10s) {
  auto e = s.NextEntry(timeout);
  if (!e) {
    ADD_FAILURE() << "no entry arrived"
                  << (s.ws().close_info() ? " (closed " + std::to_string(s.ws().close_info()->code) +
                                                ")"
                                          : "");
    return {};
  }
  return *e;
}

// Expects `request` to fail with `code`.
inline void ExpectError(client::Session& s, json::object request, std::string_view code) {
  json::object reply = s.Call(std::move(request));
  EXPECT_EQ(Str(reply, "type"), "error") << json::serialize(reply);
  EXPECT_EQ(Str(reply, "code"), code) << json::serialize(reply);
}

// The value of an unlabelled metric of GET /metrics, -1 if absent.
inline std::int64_t Metric(const FerrydProcess& server, const std::string& name) {
  auto r = client::Http(server.endpoint(), "GET", "/metrics");
  std::size_t at = r.raw.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stoll(r.raw.substr(at + name.size() + 2));
}

inline json::array Users(std::initializer_list<const char*> names) {
  json::array a;
  for (const char* n : names) a.emplace_back(n);
  return a;
}

}  // namespace ferry::testing
