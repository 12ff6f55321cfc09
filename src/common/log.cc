#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>

namespace ferry::log {
namespace {

std::atomic<Level> g_level{Level::info};

const char* Name(Level level) {
  switch (level) {
    case Level::debug: return "DEBUG";
    case Level::info: return "INFO";
    case Level::warn: return "WARN";
    case Level::error: return "ERROR";
  }
  return "?";
}

}  // namespace

void SetLevel(Level level) { g_level = level; }
Level GetLevel() { return g_level; }

bool ParseLevel(std::string_view text, Level* out) {
  for (Level l : {Level::debug, Level::info, Level::warn, Level::error}) {
    std::string lower = Name(l);
    for (char& c : lower) c = static_cast<char>(c - 'A' + 'a');
    if (text == lower) {
      *out = l;
      return true;
    }
  }
  return false;
}

void Write(Level level, std::string_view line) {
  using namespace std::chrono;
  auto now = system_clock::now();
  std::time_t secs = system_clock::to_time_t(now);
  int ms = static_cast<int>(duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[64];
  std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  std::string out;
  out.reserve(line.size() + 48);
  out.append(stamp).append(" ").append(Name(level)).append(" ").append(line).append("\n");
  // One write(2) per line keeps concurrent lines whole.
  ssize_t ignored = ::write(STDERR_FILENO, out.data(), out.size());
  (void)ignored;
}

}  // namespace ferry::log
