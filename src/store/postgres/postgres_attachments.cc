// PostgresStore: attachment records (the blobs live in a BlobStore) and the
// attachment side of send. Single-threaded (store.h).
//
// attachments.unfetched is the number of attachment_recipients rows of that
// attachment with fetched = false. Every statement that inserts, fetches or
// deletes a recipient row adjusts it in the same transaction (the writes of
// a send, record_fetch, drop_client_recipients), and each counts only the
// rows it changed itself, so two instances never count one fetch twice.
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "store/postgres/postgres_schema.h"
#include "store/postgres/postgres_store_impl.h"

namespace ferry::postgres {
namespace {

boost::system::error_code Err(Errc e) { return make_error_code(e); }

}  // namespace

Result<void> PostgresStore::CreateAttachment(const Attachment& attachment) {
  // A new record is pending whatever `attachment.state` says. Ids are
  // random, so a collision is a failure like any other constraint error,
  // and re-running it would only collide again.
  return Run("CreateAttachment", OnConflict::fail, [&]() -> Result<void> {
    One(Query::insert_attachment, Params()
                                      .Add(attachment.attachment_id)
                                      .Add(attachment.owner)
                                      .Add(attachment.content_type)
                                      .Add(attachment.size)
                                      .Add(attachment.sha256)
                                      .Add(attachment.created)
                                      .Add(attachment.expires));
    return {};
  });
}

Result<Attachment> PostgresStore::GetAttachment(const std::string& attachment_id) {
  return Run("GetAttachment", OnConflict::retry, [&]() -> Result<Attachment> {
    PgResult r = One(Query::get_attachment, Params().Add(attachment_id));
    if (r.Rows() == 0) return Err(Errc::not_found);
    Attachment a;
    a.attachment_id = r.Text(0, 0);
    a.owner = r.Text(0, 1);
    a.content_type = r.Text(0, 2);
    a.size = r.Int(0, 3);
    a.sha256 = r.Text(0, 4);
    a.state = static_cast<AttachmentState>(r.Int(0, 5));  // the schema CHECKs 0..2
    a.message_id = r.Text(0, 6);
    a.created = r.Int(0, 7);
    a.expires = r.Int(0, 8);
    return a;
  });
}

Result<void> PostgresStore::MarkUploaded(const std::string& attachment_id, Millis expires) {
  return Run("MarkUploaded", OnConflict::retry, [&]() -> Result<void> {
    if (One(Query::mark_uploaded, Params().Add(attachment_id).Add(expires)).Affected() > 0) {
      return {};
    }
    // Nothing changed: either no such record or it is past pending. The
    // update above is atomic, so this read needs no transaction.
    bool exists = One(Query::attachment_exists, Params().Add(attachment_id)).Rows() > 0;
    return Err(exists ? Errc::bad_request : Errc::not_found);
  });
}

Result<bool> PostgresStore::IsRecipient(const std::string& attachment_id,
                                        const std::string& client_id) {
  return Run("IsRecipient", OnConflict::retry, [&]() -> Result<bool> {
    return One(Query::is_recipient, Params().Add(attachment_id).Add(client_id)).Rows() > 0;
  });
}

Result<bool> PostgresStore::RecordFetch(const std::string& attachment_id,
                                        const std::string& client_id) {
  return Run("RecordFetch", OnConflict::retry, [&]() -> Result<bool> {
    PgResult r = One(Query::record_fetch, Params().Add(attachment_id).Add(client_id));
    if (!r.Bool(0, 0)) {
      // in_place_error: Result<bool> cannot tell an error_code from a bool.
      return Result<bool>(boost::system::in_place_error, Err(Errc::not_found));
    }
    return r.Int(0, 1) <= 0;
  });
}

Result<std::vector<std::string>> PostgresStore::DeadAttachments(Millis now, std::size_t limit) {
  return Run("DeadAttachments", OnConflict::retry, [&]() -> Result<std::vector<std::string>> {
    PgResult r = One(Query::dead_attachments, Params().Add(now).Add(LimitParam(limit)));
    std::vector<std::string> ids;
    for (int row = 0; row < r.Rows(); ++row) ids.push_back(r.Text(row, 0));
    return ids;
  });
}

Result<void> PostgresStore::DeleteAttachments(const std::vector<std::string>& attachment_ids) {
  return Run("DeleteAttachments", OnConflict::retry, [&]() -> Result<void> {
    if (attachment_ids.empty()) return {};
    Pipeline p(conn_);
    p.Begin();
    p.Queue(Query::delete_attachments, Params().Add(attachment_ids));
    p.Queue(Query::delete_attachment_recipients, Params().Add(attachment_ids));
    p.Commit();
    return {};
  });
}

Errc PostgresStore::CheckAttachments(SendOp& op, const PgResult& rows) {
  std::map<std::string_view, int> by_id;
  for (int row = 0; row < rows.Rows(); ++row) by_id.emplace(rows.TextView(row, 0), row);
  std::vector<AttachmentRef>& refs = op.message.attachments;
  refs.clear();
  std::set<std::string_view> seen;
  // In the order the sender gave, failing at the first bad one, as the
  // SQLite backend does.
  for (const std::string& id : op.attachment_ids) {
    auto found = by_id.find(id);
    // Someone else's attachment is reported like an unknown one, so ids
    // cannot be probed.
    if (found == by_id.end() || rows.TextView(found->second, 1) != op.message.sender) {
      refs.clear();
      return Errc::not_found;
    }
    int row = found->second;
    // Named twice: the second is "already sent" by the first.
    if (rows.Int(row, 5) != kStateUploaded || !seen.insert(id).second) {
      refs.clear();
      return Errc::bad_request;
    }
    refs.push_back(
        AttachmentRef{rows.Text(row, 0), rows.Text(row, 2), rows.Int(row, 3), rows.Text(row, 4)});
  }
  return Errc::ok;
}

}  // namespace ferry::postgres
