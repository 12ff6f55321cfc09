#include "blob/blob_store.h"

namespace ferry {

bool ValidBlobKey(std::string_view key) {
  if (key.size() != 22) return false;
  for (char c : key) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

}  // namespace ferry
