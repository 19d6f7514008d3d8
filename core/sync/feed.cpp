#include "sync/feed.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <utility>

#include "common/clock.hpp"
#include "common/log.hpp"
#include "common/strings.hpp"
#include "sync/post_props.hpp"

namespace msteams::sync {
namespace {

using json = nlohmann::json;

constexpr std::size_t k_max_username = 64;  // Mattermost allows 22; longer words are not usernames
constexpr int k_members_per_page = 200;
constexpr std::size_t k_max_group_members = 8;  // a group message has 3 to 8 members
constexpr std::int64_t k_retry_base_ms = 2'000;
constexpr std::int64_t k_retry_cap_ms = 300'000;

std::string text(json const& j, char const* key) {
    auto const it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::int64_t integer(json const& j, char const* key) {
    auto const it = j.find(key);
    return it != j.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}

bool username_char(char c) {
    auto const u = static_cast<unsigned char>(c);
    return std::isalnum(u) != 0 || c == '.' || c == '-' || c == '_';
}

// A kind's rank: a recipient reached for several reasons is notified once, for the strongest.
int rank(store::FeedKind kind) {
    switch (kind) {
        case store::FeedKind::direct_message:
        case store::FeedKind::group_message: return 4;
        case store::FeedKind::mention: return 3;
        case store::FeedKind::thread_reply: return 2;
        case store::FeedKind::channel_mention: return 1;
        case store::FeedKind::post: return 0;
    }
    return 0;
}

std::string display_name(mm::User const& u) {
    auto const joined = u.first_name + " " + u.last_name;
    auto const full = strings::trim(joined);  // a view into `joined`
    if (!full.empty()) {
        return std::string(full);
    }
    return u.nickname.empty() ? u.username : u.nickname;
}

std::string channel_label(mm::Channel const& ch) {
    if (ch.type == "D") {
        return "a direct message";
    }
    return ch.display_name.empty() ? ch.name : ch.display_name;
}

json post_payload(mm::Post const& p) {
    return json{{"user_id", p.user_id.str()},
                {"channel_id", p.channel_id.str()},
                {"root_id", p.root_id.str()},
                {"message", p.message},
                {"type", p.type},
                {"props", p.props_json},
                {"create_at", p.create_at}};
}

mm::Post post_of(store::FeedItem const& row, json const& j) {
    mm::Post p;
    p.id = row.post_id;
    p.user_id = MmUserId(text(j, "user_id"));
    p.channel_id = MmChannelId(text(j, "channel_id"));
    p.root_id = MmPostId(text(j, "root_id"));
    p.message = text(j, "message");
    p.type = text(j, "type");
    p.props_json = text(j, "props");
    p.create_at = integer(j, "create_at");
    return p;
}

bool from_teams(std::string const& props_json) {
    auto const props = json::parse(props_json, nullptr, false);
    return props.is_object() && props.contains(k_teams_message_prop);
}

}  // namespace

std::vector<std::string> template_parameters(std::string_view template_text) {
    std::vector<std::string> out;
    std::size_t at = 0;
    while ((at = template_text.find('{', at)) != std::string_view::npos) {
        auto const end = template_text.find('}', at);
        if (end == std::string_view::npos) {
            break;
        }
        auto name = std::string(template_text.substr(at + 1, end - at - 1));
        if (name != "actor" && std::find(out.begin(), out.end(), name) == out.end()) {
            out.push_back(std::move(name));
        }
        at = end + 1;
    }
    return out;
}

std::string feed_deep_link(std::string_view teams_web_url, std::string_view teams_app_id, std::string_view entity_id,
                           MmPostId const& post_id) {
    std::string base(teams_web_url);
    while (!base.empty() && base.back() == '/') {
        base.pop_back();
    }
    auto const context = json{{"subEntityId", post_id.str()}}.dump();
    return base + "/l/entity/" + strings::url_encode(teams_app_id) + "/" + strings::url_encode(entity_id) +
           "?context=" + strings::url_encode(context);
}

std::int64_t feed_chain_id(MmPostId const& post_id) {
    std::uint64_t h = 1469598103934665603ULL;  // FNV-1a
    for (unsigned char c : post_id.str()) {
        h ^= c;
        h *= 1099511628211ULL;
    }
    auto const id = static_cast<std::int64_t>(h & ((std::uint64_t{1} << 53) - 1));
    return id == 0 ? 1 : id;
}

std::string feed_preview(std::string_view message) {
    std::string folded;
    bool space = false;
    for (char c : message) {
        if (std::isspace(static_cast<unsigned char>(c)) != 0) {
            space = !folded.empty();
            continue;
        }
        if (space) {
            folded.push_back(' ');
            space = false;
        }
        folded.push_back(c);
    }
    folded = strings::to_valid_utf8(folded);
    // At most k_max_preview_chars characters (not bytes), an ellipsis when cut.
    std::size_t chars = 0;
    for (std::size_t i = 0; i < folded.size(); ++i) {
        if ((static_cast<unsigned char>(folded[i]) & 0xC0) != 0x80 && ++chars > graph::k_max_preview_chars - 1) {
            return folded.substr(0, i) + "…";
        }
    }
    return folded.empty() ? std::string("(a message with attachments)") : folded;
}

std::vector<std::string> mention_names(std::string_view message, std::size_t max) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < message.size() && out.size() < max; ++i) {
        if (message[i] != '@' || (i > 0 && username_char(message[i - 1]))) {
            continue;
        }
        std::size_t end = i + 1;
        while (end < message.size() && username_char(message[end])) {
            ++end;
        }
        auto name = strings::to_lower(message.substr(i + 1, end - i - 1));
        while (!name.empty() && (name.back() == '.' || name.back() == '-' || name.back() == '_')) {
            name.pop_back();  // "@alice." ends a sentence
        }
        if (!name.empty() && name.size() <= k_max_username && std::find(out.begin(), out.end(), name) == out.end()) {
            out.push_back(std::move(name));
        }
        i = end - 1;
    }
    return out;
}

Feed::Feed(FeedSettings settings, std::shared_ptr<mm::Api> api, std::shared_ptr<store::FeedStore> store,
           std::shared_ptr<store::Roster> roster, std::shared_ptr<store::Accounts> accounts,
           std::shared_ptr<FeedGraph> graph, std::shared_ptr<metrics::Counters> stats)
    : settings_(std::move(settings)),
      api_(std::move(api)),
      store_(std::move(store)),
      roster_(std::move(roster)),
      accounts_(std::move(accounts)),
      graph_(std::move(graph)),
      stats_(std::move(stats)) {
    workers_ = std::make_unique<Workers>(
        "feed", settings_.workers, settings_.poll, [this] { return step(now_ms()); }, &stats_->worker_exceptions);
}

Feed::~Feed() { stop(); }

void Feed::start() {
    if (settings_.enabled) {
        workers_->start();
    }
}

void Feed::stop() { workers_->stop(); }

Status Feed::enqueue(std::vector<mm::Post> const& posts) {
    if (!settings_.enabled) {
        return {};
    }
    std::vector<store::FeedItem> rows;
    for (auto const& p : posts) {
        if (p.id.empty() || !p.type.empty() || p.user_id == settings_.bot_user_id || from_teams(p.props_json)) {
            continue;  // system messages, the bot's, and Teams messages (Teams notified of those itself)
        }
        store::FeedItem row;
        row.post_id = p.id;
        row.kind = store::FeedKind::post;
        row.payload = post_payload(p).dump();
        row.created_at = p.create_at;
        row.due_at = 0;  // expanded at once
        rows.push_back(std::move(row));
    }
    if (rows.empty()) {
        return {};
    }
    std::int64_t added = 0;
    MSTEAMS_TRY_ASSIGN(added, store_->enqueue(rows));
    if (added > 0) {
        workers_->wake();
    }
    return {};
}

Result<bool> Feed::step(std::int64_t now_ms) {
    store::FeedBatch batch;
    if (settings_.bulk_max > 1) {
        batch.max = std::min(settings_.bulk_max, graph::k_max_activity_recipients);
        batch.reached_since = now_ms - settings_.bulk_recheck.count();
    }
    std::vector<store::FeedItem> rows;
    MSTEAMS_TRY_ASSIGN(rows, store_->claim_batch(now_ms, now_ms + settings_.lease.count(), batch));
    if (rows.empty()) {
        return false;
    }
    auto const done = rows.size() > 1                              ? deliver_bulk(rows, now_ms)
                      : rows.front().kind == store::FeedKind::post ? expand(rows.front(), now_ms)
                                                                   : deliver(rows.front(), now_ms);
    if (!done) {
        for (auto const& row : rows) {
            MSTEAMS_TRY(retry_later(row, done.error(), now_ms));
        }
    }
    return true;
}

// A claimed row that could not be handled: tried again later, or given up after max_attempts (a row handled
// meanwhile stays as it is).
Status Feed::retry_later(store::FeedItem const& row, Error const& e, std::int64_t now_ms) {
    if (row.attempts >= settings_.max_attempts) {
        log::warn("feed: giving up on a notification",
                  {{"post_id", row.post_id}, {"user_id", row.mm_user_id}, {"error", e.message}});
        ++stats_->feed_failed;
        return store_->finish(row.id, store::FeedState::failed, e.message, now_ms);
    }
    // Microsoft's Retry-After when it gave one, else exponential backoff.
    auto const wait = e.retry_after.count() > 0
                          ? std::chrono::milliseconds(e.retry_after).count()
                          : std::min<std::int64_t>(k_retry_cap_ms, k_retry_base_ms << std::min(row.attempts - 1, 8));
    log::debug("feed: a notification is tried again later",
               {{"post_id", row.post_id}, {"error", e.message}, {"wait_ms", std::to_string(wait)}});
    return store_->postpone(row.id, now_ms + wait, e.message);
}

Status Feed::expand(store::FeedItem const& row, std::int64_t now_ms) {
    auto const j = json::parse(row.payload, nullptr, false);
    if (!j.is_object()) {
        return store_->finish(row.id, store::FeedState::failed, "malformed payload", now_ms);
    }
    auto const post = post_of(row, j);
    auto channel = api_->get_channel(post.channel_id);
    if (!channel && channel.error().code == ErrorCode::not_found) {
        return store_->finish(row.id, store::FeedState::dropped, "the channel is gone", now_ms);
    }
    if (!channel) {
        return std::unexpected(channel.error());
    }
    std::vector<Recipient> who;
    MSTEAMS_TRY_ASSIGN(who, recipients(post, *channel));
    std::vector<store::FeedItem> rows;
    MSTEAMS_TRY_ASSIGN(rows, rows_for(row, post, *channel, who));
    std::int64_t added = 0;
    MSTEAMS_TRY_ASSIGN(added, store_->expand(row.id, rows, now_ms));
    stats_->feed_queued += static_cast<std::uint64_t>(added);
    return {};
}

namespace {

void add(std::vector<Feed::Recipient>& out, MmUserId const& user, store::FeedKind kind) {
    for (auto& r : out) {
        if (r.user == user) {
            if (rank(kind) > rank(r.kind)) {
                r.kind = kind;
            }
            return;
        }
    }
    out.push_back(Feed::Recipient{user, kind});
}

}  // namespace

Result<std::vector<Feed::Recipient>> Feed::recipients(mm::Post const& post, mm::Channel const& channel) {
    std::vector<Recipient> out;
    if (channel.type == "D") {
        // A direct channel's name is its two members' ids joined by "__".
        auto const sep = channel.name.find("__");
        if (sep != std::string::npos) {
            add(out, MmUserId(channel.name.substr(0, sep)), store::FeedKind::direct_message);
            add(out, MmUserId(channel.name.substr(sep + 2)), store::FeedKind::direct_message);
        }
    } else if (channel.type == "G") {
        MSTEAMS_TRY(add_members(channel.id, store::FeedKind::group_message, out));
    } else {
        MSTEAMS_TRY(add_mentions(post, channel, out));
    }
    if (!post.root_id.empty() && channel.type != "D" && channel.type != "G") {
        // A direct or group message reaches every member already: its thread's followers are among them.
        MSTEAMS_TRY(add_followers(post, out));
    }
    std::erase_if(out, [&](Recipient const& r) { return r.user == post.user_id || r.user.empty(); });
    return out;
}

Status Feed::add_members(MmChannelId const& channel, store::FeedKind kind, std::vector<Recipient>& out) {
    auto const limit = kind == store::FeedKind::group_message ? k_max_group_members : settings_.max_channel_members;
    std::vector<MmUserId> members;
    for (int page = 0;; ++page) {
        std::vector<MmUserId> ids;
        MSTEAMS_TRY_ASSIGN(ids, api_->get_channel_member_ids(channel, page, k_members_per_page));
        members.insert(members.end(), ids.begin(), ids.end());
        if (members.size() > limit) {
            log::info("feed: a channel-wide mention in a channel larger than the limit notifies no one in Teams",
                      {{"channel_id", channel}, {"limit", std::to_string(limit)}});
            return {};
        }
        if (ids.size() < static_cast<std::size_t>(k_members_per_page)) {
            break;
        }
    }
    for (auto const& m : members) {
        add(out, m, kind);
    }
    return {};
}

Status Feed::add_mentions(mm::Post const& post, mm::Channel const& channel, std::vector<Recipient>& out) {
    bool everyone = false;
    for (auto const& name : mention_names(post.message, settings_.max_mentions)) {
        if (name == "channel" || name == "all") {
            everyone = true;
            continue;
        }
        if (name == "here") {
            continue;  // @here reaches those online in Mattermost: never a feed notification
        }
        auto user = api_->get_user_by_username(name);
        if (user) {
            add(out, user->id, store::FeedKind::mention);
        } else if (user.error().code != ErrorCode::not_found) {
            return std::unexpected(user.error());
        }
    }
    if (everyone) {
        MSTEAMS_TRY(add_members(channel.id, store::FeedKind::channel_mention, out));
    }
    return {};
}

// A reply's thread's followers as Mattermost's collapsed threads make them (its starter, everyone who replied in it,
// everyone @-mentioned in it), Teams-primary, who want to hear of every reply: each gets a threadReply unless a
// stronger reason reaches them already (a mention, a direct or group message). Plugins cannot see who followed or
// unfollowed a thread by hand.
Status Feed::add_followers(mm::Post const& post, std::vector<Recipient>& out) {
    std::vector<MmUserId> followers;
    MSTEAMS_TRY_ASSIGN(followers, thread_followers(post));
    std::erase_if(followers, [&](MmUserId const& u) {
        return std::any_of(out.begin(), out.end(), [&](Recipient const& r) {
            return r.user == u && rank(r.kind) >= rank(store::FeedKind::thread_reply);
        });
    });
    if (followers.empty()) {
        return {};
    }
    std::vector<store::UserChoice> choices;
    MSTEAMS_TRY_ASSIGN(choices, roster_->choices(followers));
    for (auto const& u : followers) {
        if (primary_of(choices, u) != store::Platform::teams) {
            continue;  // not notified in Teams anyway: their setting need not be read
        }
        bool wants = false;
        MSTEAMS_TRY_ASSIGN(wants, wants_thread_replies(u));
        if (wants) {
            add(out, u, store::FeedKind::thread_reply);
        }
    }
    return {};
}

// Who took part in the reply's thread (the root and the newest replies, as the shim bounds them) and the users
// @-mentioned there (at most max_thread_mentions names: the root's first, then the newest replies'), without the
// reply's author.
Result<std::vector<MmUserId>> Feed::thread_followers(mm::Post const& post) {
    std::vector<MmUserId> out;
    auto thread = api_->get_post_thread(post.root_id);
    if (!thread && thread.error().code == ErrorCode::not_found) {
        return out;  // the thread is gone
    }
    if (!thread) {
        return std::unexpected(thread.error());
    }
    auto follow = [&](MmUserId const& u) {
        if (!u.empty() && u != post.user_id && u != settings_.bot_user_id &&
            std::find(out.begin(), out.end(), u) == out.end()) {
            out.push_back(u);
        }
    };
    std::vector<mm::Post const*> by_recency;  // the root, then the replies newest first
    for (auto const& p : thread->posts) {
        if (!p.type.starts_with("system_")) {
            follow(p.user_id);
            by_recency.push_back(&p);
        }
    }
    auto const replies =
        std::find_if(by_recency.begin(), by_recency.end(), [](auto const* p) { return p->root_id.empty(); });
    std::reverse(replies == by_recency.end() ? by_recency.begin() : replies + 1, by_recency.end());
    std::vector<std::string> names;
    for (auto const* p : by_recency) {
        for (auto& name : mention_names(p->message, settings_.max_thread_mentions)) {
            if (names.size() < settings_.max_thread_mentions && name != "channel" && name != "all" && name != "here" &&
                std::find(names.begin(), names.end(), name) == names.end()) {
                names.push_back(std::move(name));
            }
        }
    }
    for (auto const& name : names) {
        auto user = api_->get_user_by_username(name);
        if (user) {
            follow(user->id);
        } else if (user.error().code != ErrorCode::not_found) {
            return std::unexpected(user.error());
        }
    }
    return out;
}

// Whether the user hears of every reply in the threads they follow, or only of those that mention them. Mattermost
// keeps that choice per channel of notification (desktop_threads, push_threads, email_threads: "all" or "mention");
// the feed follows desktop_threads: the setting Mattermost's notification settings show first ("Notify me about
// replies to threads I'm following"), which its mobile one follows unless the user set mobile apart, and the one the
// bridge never changes (it mutes email and push for Teams-primary users, and the Teams feed is their desktop now).
Result<bool> Feed::wants_thread_replies(MmUserId const& user) {
    auto u = api_->get_user(user);
    if (!u && u.error().code == ErrorCode::not_found) {
        return false;
    }
    if (!u) {
        return std::unexpected(u.error());
    }
    auto const it = u->notify_props.find("desktop_threads");
    return it == u->notify_props.end() || it->second != "mention";
}

store::Platform Feed::primary_of(std::vector<store::UserChoice> const& choices, MmUserId const& user) const {
    auto const it =
        std::find_if(choices.begin(), choices.end(), [&](store::UserChoice const& c) { return c.mm_user_id == user; });
    return it == choices.end() ? settings_.default_primary : it->primary;
}

Result<std::vector<store::FeedItem>> Feed::rows_for(store::FeedItem const& row, mm::Post const& post,
                                                    mm::Channel const& channel,
                                                    std::vector<Recipient> const& recipients) {
    std::vector<store::FeedItem> rows;
    if (recipients.empty()) {
        return rows;
    }
    std::vector<MmUserId> ids;
    for (auto const& r : recipients) {
        ids.push_back(r.user);
    }
    std::vector<store::UserChoice> choices;
    MSTEAMS_TRY_ASSIGN(choices, roster_->choices(ids));
    std::string author;
    for (auto const& r : recipients) {
        if (primary_of(choices, r.user) != store::Platform::teams) {
            continue;
        }
        std::optional<store::Account> account;
        MSTEAMS_TRY_ASSIGN(account, accounts_->by_mm_user(r.user));
        if (!account || !account->connected() || account->teams_user_id.empty()) {
            continue;
        }
        if (author.empty()) {
            auto u = api_->get_user(post.user_id);
            author = u ? display_name(*u) : std::string("Someone");
        }
        json const payload{{"teams_user_id", account->teams_user_id.str()},
                           {"channel_id", post.channel_id.str()},
                           {"channel", channel_label(channel)},
                           {"author", author},
                           {"preview", feed_preview(post.message)}};
        rows.push_back(store::FeedItem{0, row.post_id, r.user, r.kind, payload.dump(), post.create_at,
                                       post.create_at + settings_.hold.count(), 0, false});
    }
    return rows;
}

}  // namespace msteams::sync
