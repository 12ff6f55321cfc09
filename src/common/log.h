// Minimal leveled logging to stderr: one line per call, written with a single
// write(2) so lines from different threads never interleave. Thread-safe.
// Usage: log::Info("conn ", id, " closed code=", code);
#pragma once

#include <sstream>
#include <string_view>
#include <utility>

namespace ferry::log {

enum class Level { debug = 0, info, warn, error };

void SetLevel(Level level);
Level GetLevel();
// Parses "debug" | "info" | "warn" | "error"; false for anything else.
bool ParseLevel(std::string_view text, Level* out);
void Write(Level level, std::string_view line);

template <class... Args>
void Log(Level level, Args&&... args) {
  if (level < GetLevel()) return;
  std::ostringstream out;
  (out << ... << std::forward<Args>(args));
  Write(level, out.str());
}

template <class... Args>
void Debug(Args&&... args) { Log(Level::debug, std::forward<Args>(args)...); }
template <class... Args>
void Info(Args&&... args) { Log(Level::info, std::forward<Args>(args)...); }
template <class... Args>
void Warn(Args&&... args) { Log(Level::warn, std::forward<Args>(args)...); }
template <class... Args>
void Error(Args&&... args) { Log(Level::error, std::forward<Args>(args)...); }

}  // namespace ferry::log
