// What the SigV4 fuzz body (sigv4_fuzz.cc) signs and when it verifies, for
// its replay test to build seeds from. Read-only data: any thread may call.
#pragma once

#include <cstdint>
#include <vector>

#include "blob/sigv4.h"

namespace ferry::sigv4::fuzz {

// 2026-11-28T08:35:16.378Z: every request is signed then, and verified at
// the same instant (inside every window, the 1 s one too).
inline constexpr std::int64_t kSignedAtMs = 1795854916378;
inline constexpr std::int64_t kNowMs = kSignedAtMs;

// The fixed credentials everything is signed and verified with.
const Credentials& Creds();
// The requests signed with Creds(); an input may verify only as one of them.
const std::vector<PresignRequest>& SignedRequests();

}  // namespace ferry::sigv4::fuzz
