#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/ids.hpp"
#include "common/result.hpp"
#include "store/database.hpp"
#include "store/records.hpp"

// The activity-feed queue of Teams-primary users and their feed state (msteams_feed, msteams_feed_users; migrations
// 014 and 015). A posted message is queued once as a `post` row (no recipient); expanding it adds one row per
// recipient, unique per (post, recipient), and settles the post row in the same transaction. Rows are claimed with a
// lease (committed, no transaction held across Graph), and kept once handled so that a late or repeated hook adds
// nothing. The rows of one post and kind may be claimed together, for one bulk request to all their recipients.
namespace msteams::store {

// Why a recipient is notified; the words are the activity types the Teams app's manifest declares (`post`: a post
// row waiting to be expanded, never sent).
enum class FeedKind { post, mention, channel_mention, direct_message, group_message, thread_reply };
enum class FeedState { queued, sent, dropped, failed };

template <>
struct Names<FeedKind> {
    static constexpr std::array<std::string_view, 6> words{"post",          "mention",      "channelMention",
                                                           "directMessage", "groupMessage", "threadReply"};
};
template <>
struct Names<FeedState> {
    static constexpr std::array<std::string_view, 4> words{"queued", "sent", "dropped", "failed"};
};

struct FeedItem {
    std::int64_t id = 0;  // 0 until stored
    MmPostId post_id;
    MmUserId mm_user_id;  // empty for a post row
    FeedKind kind = FeedKind::post;
    std::string payload;          // JSON, the caller's
    std::int64_t created_at = 0;  // Unix ms
    std::int64_t due_at = 0;      // Unix ms
    int attempts = 0;             // counting the claim that returned it
    bool alone = false;           // sent on its own: a bulk request with it was refused
};

// Which rows a claim takes together, for one bulk request: a recipient row that is not `alone`, whose recipient
// Microsoft accepted a notification for on its own since `reached_since` and who is not blocked, with up to max - 1
// more such rows of the same post and kind. max 1: one row at a time.
struct FeedBatch {
    std::size_t max = 1;
    std::int64_t reached_since = 0;  // Unix ms
};

struct FeedCounts {
    std::int64_t queued = 0;
    std::int64_t sent = 0;
    std::int64_t dropped = 0;
    std::int64_t failed = 0;
};

// A Teams-primary user's feed state; the defaults when they have no row.
struct FeedUser {
    MmUserId mm_user_id;
    bool blocked = false;  // Microsoft refused to notify them (403)
    std::string blocked_reason;
    std::int64_t told_at = 0;  // Unix ms
    bool muted = false;
    std::string saved_email;      // notify_props.email before muting
    std::string saved_push;       // notify_props.push before muting
    std::int64_t reached_at = 0;  // Unix ms Microsoft last accepted a notification for them alone; 0: never
};

class FeedStore {
public:
    explicit FeedStore(std::shared_ptr<Database> db);

    // Queues post rows; a post already queued (or handled) is left alone. Returns how many were new.
    [[nodiscard]] Result<std::int64_t> enqueue(std::vector<FeedItem> const& posts);
    // Claims the row due first (due_at ≤ now) that no worker holds, counting an attempt: it is the caller's until
    // `lease_until_ms`. Empty when nothing is due.
    [[nodiscard]] Result<std::optional<FeedItem>> claim(std::int64_t now_ms, std::int64_t lease_until_ms);
    // Claims the row due first as claim() does, and with it, when it may go in bulk, the rows of the same post and
    // kind that may too (see FeedBatch), each counting an attempt; the first row first. Empty when nothing is due.
    [[nodiscard]] Result<std::vector<FeedItem>> claim_batch(std::int64_t now_ms, std::int64_t lease_until_ms,
                                                            FeedBatch const& batch);
    // Adds a post row's recipients (rows already there stay as they are) and settles the post row, in one
    // transaction; returns how many recipients were new.
    [[nodiscard]] Result<std::int64_t> expand(std::int64_t post_row_id, std::vector<FeedItem> const& recipients,
                                              std::int64_t now_ms);
    // Settles a claimed row (sent, dropped or failed) with a reason for the record (a row settled already stays).
    [[nodiscard]] Status finish(std::int64_t id, FeedState state, std::string const& reason, std::int64_t now_ms);
    // Settles claimed rows alike, in one statement.
    [[nodiscard]] Status finish_all(std::vector<std::int64_t> const& ids, FeedState state, std::string const& reason,
                                    std::int64_t now_ms);
    // Gives a claimed row back, due again at `due_at` (a row settled meanwhile stays settled).
    [[nodiscard]] Status postpone(std::int64_t id, std::int64_t due_at, std::string const& error);
    // Gives claimed rows back to be sent one by one from `due_at` on (their bulk request was refused).
    [[nodiscard]] Status send_alone(std::vector<std::int64_t> const& ids, std::int64_t due_at,
                                    std::string const& error);
    // Removes rows handled before `before_ms`; returns how many.
    [[nodiscard]] Result<std::int64_t> purge(std::int64_t before_ms);
    // Recipient rows (post rows not counted) by state.
    [[nodiscard]] Result<FeedCounts> counts();
    // The oldest queued recipient row's post time (nullopt when none): how far behind the feed is.
    [[nodiscard]] Result<std::optional<std::int64_t>> oldest_queued();

    [[nodiscard]] Result<FeedUser> user(MmUserId const& mm_user_id);
    // The feed state of each user (the defaults for those without a row), in the order asked.
    [[nodiscard]] Result<std::vector<FeedUser>> users(std::vector<MmUserId> const& mm_user_ids);
    // Microsoft accepted a notification for the user alone at `now_ms`: the Teams app is installed for them, so
    // bulk requests may include them for a while; clears a block (a later refusal tells them again).
    [[nodiscard]] Status reached(MmUserId const& mm_user_id, std::int64_t now_ms);
    // Microsoft refused (blocked, with its reason) or accepted a notification for the user; accepting clears the
    // block and when they were told (a later refusal tells them again).
    [[nodiscard]] Status set_blocked(MmUserId const& mm_user_id, bool blocked, std::string const& reason,
                                     std::int64_t now_ms);
    // True once per block: the caller tells the user.
    [[nodiscard]] Result<bool> claim_telling(MmUserId const& mm_user_id, std::int64_t now_ms);
    // How many users Microsoft refuses to notify.
    [[nodiscard]] Result<std::int64_t> blocked_count();
    // The bridge muted the user, who had these settings before (kept from the first muting when muted already).
    [[nodiscard]] Status set_muted(MmUserId const& mm_user_id, std::string const& email, std::string const& push,
                                   std::int64_t now_ms);
    // Ends the muting: the settings to restore, nullopt when the bridge had not muted the user.
    [[nodiscard]] Result<std::optional<FeedUser>> take_muted(MmUserId const& mm_user_id, std::int64_t now_ms);

private:
    std::shared_ptr<Database> db_;
};

}  // namespace msteams::store
