// SqliteStore: attachment records (the blobs live in a BlobStore) and the
// attachment side of send and of DeleteClient. Single-threaded (store.h).
//
// attachments.unfetched is the number of attachment_recipients rows of that
// attachment with fetched = 0. Every statement that inserts, fetches or
// deletes a recipient row adjusts it in the same transaction, which lets
// DeadAttachments find "sent, nobody left to fetch it" by index alone.
#include <algorithm>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "store/sqlite/sqlite_schema.h"
#include "store/sqlite/sqlite_store_impl.h"

namespace ferry::sqlite {
namespace {

boost::system::error_code Err(Errc e) { return make_error_code(e); }

}  // namespace

Result<void> SqliteStore::CreateAttachment(const Attachment& attachment) {
  return Guarded("CreateAttachment", [&]() -> Result<void> {
    // A new record is pending whatever `attachment.state` says; ids are
    // random, so a collision is a failure like any other constraint error.
    Cursor(q_.insert_attachment)
        .Bind(1, attachment.attachment_id)
        .Bind(2, attachment.owner)
        .Bind(3, attachment.content_type)
        .Bind(4, attachment.size)
        .Bind(5, attachment.sha256)
        .Bind(6, attachment.created)
        .Bind(7, attachment.expires)
        .Exec();
    return {};
  });
}

Result<Attachment> SqliteStore::GetAttachment(const std::string& attachment_id) {
  return Guarded("GetAttachment", [&]() -> Result<Attachment> {
    Cursor c(q_.get_attachment);
    c.Bind(1, attachment_id);
    if (!c.Next()) return Err(Errc::not_found);
    std::int64_t state = c.Int(5);
    if (state < kStatePending || state > kStateSent) {
      throw SqliteError(SQLITE_CORRUPT, "unknown attachment state " + std::to_string(state));
    }
    Attachment a;
    a.attachment_id = c.Text(0);
    a.owner = c.Text(1);
    a.content_type = c.Text(2);
    a.size = c.Int(3);
    a.sha256 = c.Text(4);
    a.state = static_cast<AttachmentState>(state);
    a.message_id = c.Text(6);
    a.created = c.Int(7);
    a.expires = c.Int(8);
    return a;
  });
}

Result<void> SqliteStore::MarkUploaded(const std::string& attachment_id, Millis expires) {
  return Guarded("MarkUploaded", [&]() -> Result<void> {
    Cursor(q_.mark_uploaded).Bind(1, attachment_id).Bind(2, expires).Exec();
    if (Changes() > 0) return {};
    // Nothing changed: either no such record or it is past pending. The
    // single statement above is atomic, so this read needs no transaction.
    bool exists = Cursor(q_.attachment_exists).Bind(1, attachment_id).Next();
    return Err(exists ? Errc::bad_request : Errc::not_found);
  });
}

Result<bool> SqliteStore::IsRecipient(const std::string& attachment_id,
                                      const std::string& client_id) {
  return Guarded("IsRecipient", [&]() -> Result<bool> {
    return Cursor(q_.is_recipient).Bind(1, attachment_id).Bind(2, client_id).Next();
  });
}

Result<bool> SqliteStore::RecordFetch(const std::string& attachment_id,
                                      const std::string& client_id) {
  return Guarded("RecordFetch", [&]() -> Result<bool> {
    Transaction tx = Begin();
    Cursor(q_.mark_fetched).Bind(1, attachment_id).Bind(2, client_id).Exec();
    if (Changes() > 0) {
      Cursor(q_.drop_unfetched).Bind(1, attachment_id).Exec();
    } else if (!Cursor(q_.is_recipient).Bind(1, attachment_id).Bind(2, client_id).Next()) {
      // in_place_error: Result<bool> cannot tell an error_code from a bool.
      return Result<bool>(boost::system::in_place_error, Err(Errc::not_found));
    }  // else fetched before: nothing to change
    std::int64_t unfetched = 0;
    {
      Cursor c(q_.attachment_unfetched);
      if (c.Bind(1, attachment_id).Next()) unfetched = c.Int(0);
    }
    tx.Commit();
    return unfetched <= 0;
  });
}

Result<std::vector<std::string>> SqliteStore::DeadAttachments(Millis now, std::size_t limit) {
  return Guarded("DeadAttachments", [&]() -> Result<std::vector<std::string>> {
    std::vector<std::string> ids;
    auto max_limit = static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max());
    Cursor c(q_.dead_attachments);
    c.Bind(1, now).Bind(2, static_cast<std::int64_t>(std::min(limit, max_limit)));
    while (c.Next()) ids.push_back(c.Text(0));
    return ids;
  });
}

Result<void> SqliteStore::DeleteAttachments(const std::vector<std::string>& attachment_ids) {
  return Guarded("DeleteAttachments", [&]() -> Result<void> {
    Transaction tx = Begin();
    for (const std::string& id : attachment_ids) {
      Cursor(q_.delete_attachment).Bind(1, id).Exec();
      Cursor(q_.delete_recipients).Bind(1, id).Exec();
    }
    tx.Commit();
    return {};
  });
}

void SqliteStore::DropRecipient(std::string_view client_id) {
  std::vector<std::string> unfetched;
  {
    Cursor c(q_.unfetched_of_client);
    c.Bind(1, client_id);
    while (c.Next()) unfetched.push_back(c.Text(0));
  }
  for (const std::string& id : unfetched) Cursor(q_.drop_unfetched).Bind(1, id).Exec();
  Cursor(q_.delete_client_recipients).Bind(1, client_id).Exec();
}

Errc SqliteStore::CheckAttachments(SendOp& op) {
  std::vector<AttachmentRef>& refs = op.message.attachments;
  refs.clear();
  std::set<std::string_view> seen;
  for (const std::string& id : op.attachment_ids) {
    Cursor c(q_.get_attachment);
    c.Bind(1, id);
    // Someone else's attachment is reported like an unknown one, so ids
    // cannot be probed.
    if (!c.Next() || c.TextView(1) != op.message.sender) {
      refs.clear();
      return Errc::not_found;
    }
    // Named twice: the second is "already sent" by the first.
    if (c.Int(5) != kStateUploaded || !seen.insert(id).second) {
      refs.clear();
      return Errc::bad_request;
    }
    refs.push_back(AttachmentRef{c.Text(0), c.Text(2), c.Int(3), c.Text(4)});
  }
  return Errc::ok;
}

void SqliteStore::SendAttachments(const SendOp& op) {
  auto recipients = static_cast<std::int64_t>(op.deliveries.size());
  for (const AttachmentRef& ref : op.message.attachments) {
    Cursor(q_.send_attachment)
        .Bind(1, ref.attachment_id)
        .Bind(2, op.message.message_id)
        .Bind(3, op.expires)
        .Bind(4, recipients)
        .Exec();
    for (const Delivery& d : op.deliveries) {
      Cursor(q_.insert_recipient).Bind(1, ref.attachment_id).Bind(2, d.client_id).Exec();
    }
  }
}

}  // namespace ferry::sqlite
