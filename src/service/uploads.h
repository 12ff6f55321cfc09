// Uploads: what the built-in blob store's HTTP endpoints ask of the chat
// data -- may this PUT start, it finished, may this GET be served, it was
// read to the end -- and the sweep that deletes the blobs nobody needs any
// more. Blob file work (hashing, fsync) runs on a small pool of its own.
//
// Thread-safe. Every `done` is called exactly once, on any thread.
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <unordered_set>

#include "blob/blob_store.h"
#include "common/clock.h"
#include "common/config.h"
#include "service/store_pool.h"
#include "service/work_pool.h"
#include "store/store.h"

namespace ferry {

class Uploads {
 public:
  template <class T>
  using Done = std::function<void(Result<T>)>;

  // All must outlive the Uploads.
  Uploads(const Config& config, StorePool& store, BlobStore& blobs, Clock& clock);
  // Finishes queued file work; from then on RunBlocking refuses.
  void Stop() { blob_pool_.Stop(); }

  // A PUT may start: the attachment exists, is pending, and no other upload
  // of it runs (it is reserved until FinishUpload). not_found | forbidden
  // (already uploaded) | rate_limited (an upload in progress) | unavailable.
  void BeginUpload(const std::string& key, Done<Attachment> done);
  // Ends a reserved upload. `stored`: the file is in place, mark it uploaded
  // (ok | forbidden if it was not pending | unavailable); otherwise only
  // releases the reservation (done may be empty).
  void FinishUpload(const std::string& key, bool stored, Done<void> done);
  // A GET may be served: the attachment was sent and `client_id` is a
  // recipient. not_found | forbidden | unavailable.
  void CheckFetch(const std::string& key, const std::string& client_id, Done<Attachment> done);
  // A recipient received every byte; deletes the blob once all have.
  void RecordFetch(const std::string& key, const std::string& client_id);
  // Runs slow file work off the I/O threads. False if the pool's queue is full.
  bool RunBlocking(std::function<void()> fn) { return blob_pool_.Submit(std::move(fn)); }

  // On a store worker: deletes the blobs nobody needs any more, then their
  // records (in that order, so a crash in between only repeats work).
  void Sweep(Store& store, Millis now);

 private:
  const Config& config_;
  StorePool& store_;
  BlobStore& blobs_;
  Clock& clock_;
  WorkPool blob_pool_;
  std::mutex mu_;
  std::unordered_set<std::string> uploading_;  // GUARDED_BY(mu_)
};

}  // namespace ferry
