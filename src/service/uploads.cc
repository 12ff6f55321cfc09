#include "service/uploads.h"

#include "common/log.h"

namespace ferry {

Uploads::Uploads(const Config& config, StorePool& store, BlobStore& blobs, Clock& clock)
    : config_(config), store_(store), blobs_(blobs), clock_(clock), blob_pool_(2, 64) {}

void Uploads::Sweep(Store& store, Millis now) {
  for (int round = 0; round < 10; ++round) {
    Result<std::vector<std::string>> dead = store.DeadAttachments(now, 1000);
    if (!dead || dead->empty()) return;
    for (const std::string& key : *dead) blobs_.Delete(key);
    if (!store.DeleteAttachments(*dead)) return;
    log::Info("blobs: deleted ", dead->size(), " attachments");
    if (dead->size() < 1000) return;
  }
}

void Uploads::BeginUpload(const std::string& key, Done<Attachment> done) {
  {
    std::lock_guard lock(mu_);
    if (!uploading_.insert(key).second) return done(make_error_code(Errc::rate_limited));
  }
  bool ok = store_.For(key).Submit([this, key, done](Store& store) {
    Result<Attachment> a = store.GetAttachment(key);
    if (a && a->state != AttachmentState::pending) a = make_error_code(Errc::forbidden);
    if (!a) FinishUpload(key, false, {});
    done(std::move(a));
  });
  if (!ok) {
    FinishUpload(key, false, {});
    done(make_error_code(Errc::unavailable));
  }
}

void Uploads::FinishUpload(const std::string& key, bool stored, Done<void> done) {
  if (!stored) {
    std::lock_guard lock(mu_);
    uploading_.erase(key);
    if (done) done(make_error_code(Errc::unavailable));
    return;
  }
  Millis expires = clock_.Now() + config_.unsent_blob_ms;
  bool ok = store_.For(key).Submit([this, key, expires, done](Store& store) {
    Result<void> r = store.MarkUploaded(key, expires);
    if (!r && ToErrc(r.error()) == Errc::bad_request) r = make_error_code(Errc::forbidden);
    {
      std::lock_guard lock(mu_);
      uploading_.erase(key);
    }
    done(std::move(r));
  });
  if (!ok) {
    std::lock_guard lock(mu_);
    uploading_.erase(key);
    done(make_error_code(Errc::unavailable));
  }
}

void Uploads::CheckFetch(const std::string& key, const std::string& client_id,
                         Done<Attachment> done) {
  bool ok = store_.For(key).Submit([key, client_id, done](Store& store) {
    Result<Attachment> a = store.GetAttachment(key);
    if (!a) return done(std::move(a));
    if (a->state != AttachmentState::sent) return done(make_error_code(Errc::forbidden));
    Result<bool> recipient = store.IsRecipient(key, client_id);
    if (!recipient) return done(recipient.error());
    if (!*recipient) return done(make_error_code(Errc::forbidden));
    done(std::move(a));
  });
  if (!ok) done(make_error_code(Errc::unavailable));
}

void Uploads::RecordFetch(const std::string& key, const std::string& client_id) {
  store_.For(key).Submit([this, key, client_id](Store& store) {
    Result<bool> all = store.RecordFetch(key, client_id);
    if (all && *all) {
      // Every recipient has it: the blob goes now, not at the next sweep.
      blobs_.Delete(key);
      (void)store.DeleteAttachments({key});
      log::Info("blob ", key, " fetched by every recipient: deleted");
    }
  });
}

}  // namespace ferry
