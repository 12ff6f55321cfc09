// Attachment helpers of the CLI: content types by extension and back, and the
// names under which `listen --download` saves files.
#include <algorithm>
#include <cctype>
#include <cstdio>

#include "cli.h"

namespace ferry::cli {

namespace {

struct TypeRow {
  const char* ext;
  const char* type;
};
// The first row of a type gives its extension when saving.
constexpr TypeRow kTypes[] = {
    {"png", "image/png"},       {"jpg", "image/jpeg"},  {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},       {"webp", "image/webp"}, {"mp4", "video/mp4"},
    {"mp3", "audio/mpeg"},      {"ogg", "audio/ogg"},   {"m4a", "audio/mp4"},
    {"pdf", "application/pdf"}, {"txt", "text/plain"},  {"json", "application/json"},
    {"zip", "application/zip"},
};

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

std::string GuessContentType(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  if (!ext.empty()) ext = Lower(ext.substr(1));
  for (const TypeRow& row : kTypes) {
    if (ext == row.ext) return row.type;
  }
  return "application/octet-stream";
}

std::string ExtensionFor(const std::string& content_type) {
  std::string type = content_type.substr(0, content_type.find(';'));  // drop parameters
  while (!type.empty() && type.back() == ' ') type.pop_back();
  type = Lower(type);
  for (const TypeRow& row : kTypes) {
    if (type == row.type) return row.ext;
  }
  return "bin";
}

std::filesystem::path DownloadPath(const std::filesystem::path& dir,
                                   const std::string& attachment_id,
                                   const std::string& content_type) {
  std::string name;
  for (char c : attachment_id.substr(0, 128)) {
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
    name += ok ? c : '_';
  }
  if (name.empty()) name = "attachment";
  return dir / (name + "." + ExtensionFor(content_type));
}

std::string DescribeSize(std::uint64_t bytes) {
  std::string out = std::to_string(bytes) + " bytes";
  if (bytes >= 1024) {
    const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(bytes) / 1024;
    int u = 0;
    while (v >= 1024 && u < 3) {
      v /= 1024;
      ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, " (%.1f %s)", v, units[u]);
    out += buf;
  }
  return out;
}

}  // namespace ferry::cli
