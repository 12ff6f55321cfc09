// The Store conformance suite, part three (see conformance.h): receipts
// (delivered marks raised by acks, read marks by markRead, the `receipt`
// entries of ReceiptOp), chatReceipts, privacy, rosters and secrets.
#include <gmock/gmock.h>

#include "conformance.h"

namespace ferry::store_test {
namespace {

// Written by the next commit.

}  // namespace
}  // namespace ferry::store_test
