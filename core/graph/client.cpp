#include "graph/client.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <thread>

#include "common/backoff.hpp"
#include "common/log.hpp"
#include "common/random.hpp"
#include "common/strings.hpp"
#include "crypto/crypto.hpp"
#include "graph/detail/rate_limiter.hpp"
#include "graph/detail/support.hpp"

namespace msteams::graph {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::size_t k_max_json = 16u << 20;
constexpr milliseconds k_download_timeout{300'000};
constexpr milliseconds k_backoff_base{250};
constexpr milliseconds k_backoff_cap{10'000};
constexpr int k_max_redirects = 3;
constexpr std::size_t k_page_size = 50;
constexpr char const* k_chat_files_folder = "Microsoft Teams Chat Files";
constexpr char const* k_uploads_folder = "Mattermost";  // under k_chat_files_folder: one folder per source file

// --- defensive JSON reading ------------------------------------------------------------------------------------------

// Reads the fields of one JSON object, type-checking each: a field that is absent or null reads as empty; a field of
// the wrong type reads as empty too and records the first such problem, which the caller turns into an Error.
class Fields {
public:
    Fields(json const& object, std::string what, std::string* problem)
        : object_(object),
          what_(std::move(what)),
          problem_(problem) {}

    [[nodiscard]] bool has(char const* key) const {
        return object_.is_object() && object_.contains(key) && !object_[key].is_null();
    }

    std::string str(char const* key) {
        if (!has(key)) {
            return {};
        }
        auto const& v = object_[key];
        if (!v.is_string()) {
            wrong(key, "a string");
            return {};
        }
        return v.get<std::string>();
    }

    // An id of Graph's own objects (a chat, a message, a subscription): one of another shape is a problem.
    template <class I>
    I id(char const* key) {
        auto const text = str(key);
        if (text.empty()) {
            return {};
        }
        auto id = I::parse(text);
        if (!id) {
            wrong(key, "an id of the expected shape");
            return {};
        }
        return *std::move(id);
    }

    // A user's id, which is an Entra object id for the users the bridge can map. Senders of other kinds (anonymous
    // meeting guests, phone users) have ids of other shapes: they read as no user, and the message still counts.
    TeamsUserId user_id(char const* key) { return TeamsUserId::parse(str(key)).value_or(TeamsUserId()); }

    std::int64_t integer(char const* key) {
        if (!has(key)) {
            return 0;
        }
        auto const& v = object_[key];
        if (v.is_number_integer()) {
            return v.get<std::int64_t>();
        }
        if (v.is_number_unsigned()) {
            auto const u = v.get<std::uint64_t>();
            return u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())
                       ? std::numeric_limits<std::int64_t>::max()
                       : static_cast<std::int64_t>(u);
        }
        wrong(key, "an integer");
        return 0;
    }

    bool boolean(char const* key, bool fallback) {
        if (!has(key)) {
            return fallback;
        }
        auto const& v = object_[key];
        if (!v.is_boolean()) {
            wrong(key, "a boolean");
            return fallback;
        }
        return v.get<bool>();
    }

    // Unix ms; 0 when absent or null.
    std::int64_t time(char const* key) {
        auto const text = str(key);
        if (text.empty()) {
            return 0;
        }
        auto const ms = detail::parse_time(text);
        if (!ms) {
            wrong(key, "an ISO-8601 date-time");
            return 0;
        }
        return *ms;
    }

    // nullptr when absent or null.
    json const* object(char const* key) {
        if (!has(key)) {
            return nullptr;
        }
        auto const& v = object_[key];
        if (!v.is_object()) {
            wrong(key, "an object");
            return nullptr;
        }
        return &v;
    }

    json const* array(char const* key) {
        if (!has(key)) {
            return nullptr;
        }
        auto const& v = object_[key];
        if (!v.is_array()) {
            wrong(key, "an array");
            return nullptr;
        }
        return &v;
    }

    void wrong(std::string const& key, char const* expected) {
        if (problem_->empty()) {
            *problem_ = what_ + "." + key + " is not " + expected;
        }
    }

private:
    json const& object_;
    std::string what_;
    std::string* problem_;
};

// --- parsers (each returns the problem in `problem`; empty = fine) ---------------------------------------------

// Long (over 80 lines) on purpose: one field after another of a Graph chatMessage, each checked for its type and
// size where it is read.
// NOLINTNEXTLINE(readability-function-size)
ChatMessage message_from(json const& j, std::string& problem) {
    ChatMessage m;
    if (!j.is_object()) {
        problem = "a chatMessage is not a JSON object";
        return m;
    }
    Fields f(j, "chatMessage", &problem);
    m.id = f.id<TeamsMessageId>("id");
    if (m.id.empty() && problem.empty()) {
        problem = "chatMessage has no id";
    }
    m.chat_id = f.id<TeamsThreadId>("chatId");
    m.reply_to_id = f.id<TeamsMessageId>("replyToId");
    m.message_type = f.str("messageType");
    m.created_at = f.time("createdDateTime");
    m.last_modified_at = f.time("lastModifiedDateTime");
    m.last_edited_at = f.time("lastEditedDateTime");
    m.deleted_at = f.time("deletedDateTime");
    m.subject = f.str("subject");
    if (auto const* from = f.object("from")) {
        Fields ff(*from, "chatMessage.from", &problem);
        if (auto const* user = ff.object("user")) {
            Fields uf(*user, "chatMessage.from.user", &problem);
            m.from.id = uf.user_id("id");
            m.from.display_name = uf.str("displayName");
        } else if (auto const* app = ff.object("application")) {
            // An application (bot) sender: no user id, but its name is worth showing.
            Fields af(*app, "chatMessage.from.application", &problem);
            m.from.display_name = af.str("displayName");
        }
    }
    if (auto const* body = f.object("body")) {
        Fields bf(*body, "chatMessage.body", &problem);
        m.body_content_type = bf.str("contentType");
        m.body = bf.str("content");
    }
    if (auto const* attachments = f.array("attachments")) {
        for (auto const& a : *attachments) {
            if (!a.is_object()) {
                f.wrong("attachments[]", "an object");
                break;
            }
            Fields af(a, "chatMessage.attachments[]", &problem);
            Attachment out;
            out.id = af.str("id");
            out.content_type = af.str("contentType");
            out.content_url = af.str("contentUrl");
            out.content = af.str("content");
            out.name = af.str("name");
            m.attachments.push_back(std::move(out));
        }
    }
    if (auto const* mentions = f.array("mentions")) {
        for (auto const& mention : *mentions) {
            if (!mention.is_object()) {
                f.wrong("mentions[]", "an object");
                break;
            }
            Fields mf(mention, "chatMessage.mentions[]", &problem);
            Mention out;
            auto const id = mf.integer("id");
            if (id < std::numeric_limits<int>::min() || id > std::numeric_limits<int>::max()) {
                mf.wrong("id", "an int");
            }
            out.id = static_cast<int>(id);
            out.text = mf.str("mentionText");
            if (auto const* mentioned = mf.object("mentioned")) {
                Fields wf(*mentioned, "chatMessage.mentions[].mentioned", &problem);
                if (auto const* user = wf.object("user")) {
                    Fields uf(*user, "chatMessage.mentions[].mentioned.user", &problem);
                    out.user_id = uf.user_id("id");
                    out.display_name = uf.str("displayName");
                }
            }
            m.mentions.push_back(std::move(out));
        }
    }
    if (auto const* reactions = f.array("reactions")) {
        for (auto const& reaction : *reactions) {
            if (!reaction.is_object()) {
                f.wrong("reactions[]", "an object");
                break;
            }
            Fields rf(reaction, "chatMessage.reactions[]", &problem);
            Reaction out;
            out.reaction_type = rf.str("reactionType");
            out.created_at = rf.time("createdDateTime");
            if (auto const* who = rf.object("user")) {
                Fields wf(*who, "chatMessage.reactions[].user", &problem);
                if (auto const* user = wf.object("user")) {
                    Fields uf(*user, "chatMessage.reactions[].user.user", &problem);
                    out.user_id = uf.user_id("id");
                }
            }
            m.reactions.push_back(std::move(out));
        }
    }
    return m;
}

Chat chat_from(json const& j, std::string& problem) {
    Chat c;
    if (!j.is_object()) {
        problem = "a chat is not a JSON object";
        return c;
    }
    Fields f(j, "chat", &problem);
    c.id = f.id<TeamsThreadId>("id");
    if (c.id.empty() && problem.empty()) {
        problem = "chat has no id";
    }
    c.chat_type = f.str("chatType");
    c.topic = f.str("topic");
    c.web_url = f.str("webUrl");
    c.last_updated_at = f.time("lastUpdatedDateTime");
    if (auto const* members = f.array("members")) {
        for (auto const& member : *members) {
            if (!member.is_object()) {
                f.wrong("members[]", "an object");
                break;
            }
            Fields mf(member, "chat.members[]", &problem);
            ChatMember out;
            out.user_id = mf.user_id("userId");
            out.display_name = mf.str("displayName");
            out.email = mf.str("email");
            if (auto const* roles = mf.array("roles")) {
                for (auto const& role : *roles) {
                    if (!role.is_string()) {
                        mf.wrong("roles[]", "a string");
                        break;
                    }
                    out.roles.push_back(role.get<std::string>());
                }
            }
            c.members.push_back(std::move(out));
        }
    }
    return c;
}

GraphUser user_from(json const& j, std::string& problem) {
    GraphUser u;
    Fields f(j, "user", &problem);
    u.id = f.id<TeamsUserId>("id");
    if (u.id.empty() && problem.empty()) {
        problem = "user has no id";
    }
    u.display_name = f.str("displayName");
    u.mail = f.str("mail");
    u.user_principal_name = f.str("userPrincipalName");
    u.user_type = f.str("userType");
    u.account_enabled = f.boolean("accountEnabled", true);
    return u;
}

Subscription subscription_from(json const& j, std::string& problem) {
    Subscription s;
    if (!j.is_object()) {
        problem = "a subscription is not a JSON object";
        return s;
    }
    Fields f(j, "subscription", &problem);
    s.id = f.id<SubscriptionId>("id");
    if (s.id.empty() && problem.empty()) {
        problem = "subscription has no id";
    }
    s.resource = f.str("resource");
    s.change_type = f.str("changeType");
    s.notification_url = f.str("notificationUrl");
    s.lifecycle_notification_url = f.str("lifecycleNotificationUrl");
    s.client_state = f.str("clientState");
    s.expires_at = f.time("expirationDateTime");
    s.include_resource_data = f.boolean("includeResourceData", false);
    s.encryption_certificate = f.str("encryptionCertificate");
    s.encryption_certificate_id = f.str("encryptionCertificateId");
    return s;
}

DriveItem drive_item_from(json const& j, std::string& problem) {
    DriveItem d;
    Fields f(j, "driveItem", &problem);
    d.id = f.str("id");
    if (d.id.empty() && problem.empty()) {
        problem = "driveItem has no id";
    }
    d.name = f.str("name");
    d.web_url = f.str("webUrl");
    d.etag = f.str("eTag");
    d.size = f.integer("size");
    return d;
}

// --- request bodies --------------------------------------------------------------------------------------------------

json message_body(NewMessage const& m) {
    json body = {{"body", {{"contentType", "html"}, {"content", m.html}}}};
    if (!m.mentions.empty()) {
        json mentions = json::array();
        for (auto const& mention : m.mentions) {
            mentions.push_back({{"id", mention.id},
                                {"mentionText", mention.text},
                                {"mentioned",
                                 {{"user",
                                   {{"id", mention.user_id},
                                    {"displayName", mention.display_name},
                                    {"userIdentityType", "aadUser"}}}}}});
        }
        body["mentions"] = std::move(mentions);
    }
    if (!m.attachments.empty()) {
        json attachments = json::array();
        for (auto const& a : m.attachments) {
            json item = {{"id", a.id}, {"contentType", a.content_type}};
            if (!a.content_url.empty()) {
                item["contentUrl"] = a.content_url;
            }
            if (!a.content.empty()) {
                item["content"] = a.content;
            }
            if (!a.name.empty()) {
                item["name"] = a.name;
            }
            attachments.push_back(std::move(item));
        }
        body["attachments"] = std::move(attachments);
    }
    if (!m.hosted_contents.empty()) {
        json hosted = json::array();
        for (auto const& h : m.hosted_contents) {
            hosted.push_back({{"@microsoft.graph.temporaryId", h.temporary_id},
                              {"contentBytes", crypto::base64_encode(h.bytes)},
                              {"contentType", h.content_type}});
        }
        body["hostedContents"] = std::move(hosted);
    }
    return body;
}

// Throws nothing: invalid UTF-8 is replaced rather than raising json::type_error.
std::string dump(json const& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::chrono::seconds ceil_seconds(milliseconds ms) {
    return std::max(std::chrono::seconds(1), std::chrono::ceil<std::chrono::seconds>(ms));
}

bool starts_with(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && s.substr(0, prefix.size()) == prefix;
}

}  // namespace

Result<ChatMessage> parse_chat_message(std::string const& text) {
    auto const j = json::parse(text, nullptr, false);
    if (j.is_discarded()) {
        return fail(ErrorCode::invalid_argument, "not a chatMessage: the text is not valid JSON");
    }
    std::string problem;
    auto m = message_from(j, problem);
    if (!problem.empty()) {
        return fail(ErrorCode::invalid_argument, "not a chatMessage: " + problem);
    }
    m.raw_json = text;
    return m;
}

// --- the client ------------------------------------------------------------------------------------------------------

namespace {

// Which rate budgets a request spends.
enum class Budget { none, chat_read, chat_post, chat_write, feed, feed_bulk };

struct Call {
    std::string method = "GET";
    std::string url;    // absolute
    std::string token;  // empty: no Authorization header (pre-authenticated download URLs)
    std::string body;
    std::string content_type;
    Budget budget = Budget::none;
    std::string chat_id;
    std::string team_id;                       // a channel's team: the request also takes a turn of the team's budget
    std::uint64_t Counters::* kind = nullptr;  // counted once per call, not per retry; names its endpoint class
    bool count_kind = true;                    // false for a download's redirect (its call was counted)
    std::size_t max_body = k_max_json;
    milliseconds timeout{0};  // 0: Limits::request_timeout
    // Whether the request may be sent again when its outcome is unknown (a timeout or a lost connection after it was
    // sent, a 5xx). Unset: by method (GET, PUT, DELETE yes; POST, PATCH no). Every write says so explicitly.
    std::optional<bool> idempotent;
    std::string accept = "application/json";
    std::string what;  // "GET chat message", for errors and logs (never secrets)
};

// The endpoint class a request is counted under, from what its call counts.
std::string_view endpoint_class(std::uint64_t Counters::* kind) {
    struct Name {
        std::uint64_t Counters::* kind;
        std::string_view name;
    };
    static constexpr std::array<Name, 15> k_names = {{{&Counters::message_gets, "message_get"},
                                                      {&Counters::message_lists, "message_list"},
                                                      {&Counters::message_posts, "message_post"},
                                                      {&Counters::message_writes, "message_write"},
                                                      {&Counters::chat_gets, "chat"},
                                                      {&Counters::file_downloads, "file_download"},
                                                      {&Counters::file_uploads, "file_upload"},
                                                      {&Counters::subscription_calls, "subscription"},
                                                      {&Counters::user_gets, "user"},
                                                      {&Counters::application_reads, "application"},
                                                      {&Counters::photo_gets, "photo"},
                                                      {&Counters::presence_reads, "presence"},
                                                      {&Counters::activity_notifications, "activity"},
                                                      {&Counters::activity_bulk_notifications, "activity_bulk"},
                                                      {&Counters::app_installs, "app_install"}}};
    for (auto const& n : k_names) {
        if (n.kind == kind) {
            return n.name;
        }
    }
    return "other";
}

}  // namespace

struct Client::Impl {
    std::shared_ptr<http::Client> http;
    std::string base;  // graph_base, no trailing slash
    std::string api;   // base + "/v1.0"
    Limits limits;

    mutable std::mutex counters_mutex;
    Counters counters;

    // stop(): every wait ends at once and no new one starts.
    std::mutex stop_mutex;
    std::condition_variable stop_cv;
    bool stopping = false;

    // Waits `d`; false when the client was stopped (before or meanwhile).
    bool interruptible_wait(milliseconds d) {
        std::unique_lock lock(stop_mutex);
        return !stop_cv.wait_for(lock, d, [&] { return stopping; });
    }
    detail::RateLimiter limiter;
    std::mutex rng_mutex;
    std::minstd_rand rng;

    std::shared_ptr<Observer> observer;  // never null (a do-nothing one when none was given)

    Impl(std::shared_ptr<http::Client> h, std::string b, Limits l, std::shared_ptr<Observer> o)
        : http(std::move(h)),
          base(std::move(b)),
          limits(l),
          observer(o ? std::move(o) : std::make_shared<Observer>()) {
        while (!base.empty() && base.back() == '/') {
            base.pop_back();
        }
        api = base + "/v1.0";
        std::uint32_t seed = 0;
        random::fill(reinterpret_cast<unsigned char*>(&seed), sizeof seed);
        rng.seed(seed == 0 ? 1 : seed);
    }

    void count(std::uint64_t Counters::* field, std::uint64_t n = 1) {
        std::lock_guard lock(counters_mutex);
        counters.*field += n;
    }

    milliseconds backoff(int attempt) {
        auto const exp = msteams::backoff(attempt, k_backoff_base, k_backoff_cap).count();
        std::lock_guard lock(rng_mutex);
        std::uniform_int_distribution<std::int64_t> dist(exp / 2, exp);
        return milliseconds(dist(rng));
    }

    // The budgets that govern a request: its chat's first, then the tenant's.
    struct Wants {
        std::array<detail::RateLimiter::Want, 3> list;
        std::size_t n = 0;
    };
    Wants wants_of(Call const& call) const {
        Wants w;
        switch (call.budget) {
            case Budget::chat_read:
                w.list[w.n++] = {"chat-read\n" + call.chat_id, limits.chat_reads_per_second};
                w.list[w.n++] = {"tenant-read", limits.tenant_reads_per_second};
                break;
            case Budget::chat_post:
                w.list[w.n++] = {"chat-post\n" + call.chat_id, limits.chat_posts_per_second};
                w.list[w.n++] = {"tenant-post", limits.tenant_posts_per_second};
                break;
            case Budget::chat_write:
                w.list[w.n++] = {"chat-write\n" + call.chat_id, limits.chat_writes_per_second};
                break;
            case Budget::feed: w.list[w.n++] = {"tenant-feed", limits.feed_per_second}; break;
            case Budget::feed_bulk: w.list[w.n++] = {"tenant-feed-bulk", limits.feed_bulk_per_second}; break;
            case Budget::none: break;
        }
        if (call.budget != Budget::none && !call.team_id.empty()) {
            w.list[w.n++] = {"team\n" + call.team_id, limits.team_requests_per_second};
        }
        return w;
    }

    // Graph throttled the request: its chat's budget has no turn until `pause` has passed, for the retry and the
    // chat's other requests alike (they would only collect 429s meanwhile). False when no chat budget governs it.
    bool hold_chat_budget(Call const& call, milliseconds pause) {
        auto const w = wants_of(call);
        if (w.n == 0 || !(w.list[0].per_second > 0)) {
            return false;
        }
        auto const now = Clock::now();
        limiter.hold(w.list[0], now, now + pause);
        return true;
    }

    // Waits for the request's turn under the per-chat and per-tenant budgets.
    Status take_turn(Call const& call, Clock::time_point deadline) {
        auto const w = wants_of(call);
        if (w.n == 0) {
            return {};
        }
        auto const now = Clock::now();
        auto const budget = std::chrono::duration_cast<milliseconds>(deadline - now);
        auto const turn = limiter.reserve(std::span(w.list.data(), w.n), now, std::max(budget, milliseconds(0)));
        if (!turn.granted) {
            Error e;
            e.code = ErrorCode::unavailable;
            e.retry_after = ceil_seconds(turn.wait);
            e.message = call.what + ": the Microsoft Graph rate budget has no turn before the deadline (next in " +
                        std::to_string(turn.wait.count()) + " ms)";
            return std::unexpected(std::move(e));
        }
        if (turn.wait.count() > 0) {
            if (!interruptible_wait(turn.wait)) {
                return fail(ErrorCode::unavailable, call.what + ": not sent, the bridge is stopping");
            }
            count(&Counters::waited_ms, static_cast<std::uint64_t>(turn.wait.count()));
            observer->graph_waited(turn.wait);
        }
        return {};
    }

    static bool repeatable(Call const& call) {
        if (call.idempotent) {
            return *call.idempotent;
        }
        return call.method == "GET" || call.method == "HEAD" || call.method == "PUT" || call.method == "DELETE";
    }

    // One request with the rate limiter, retries and the deadline; any HTTP status other than 429 and 5xx is returned
    // for the caller to judge. Every try takes its turn under the budgets. 429s, and 503s with Retry-After
    // (throttling: Graph did not apply the request), are retried after Retry-After; transport failures and other 5xx
    // with exponential backoff and jitter, but a call that is not repeatable is not sent again once Graph may have
    // applied it: it fails with outcome_unknown. Long (over 80 lines) on purpose: those cases read best side by side
    // in one loop.
    // NOLINTNEXTLINE(readability-function-size)
    Result<http::Response> exchange(Call const& call) {
        auto const deadline = Clock::now() + limits.deadline;
        bool const repeat = repeatable(call);
        auto const timeout = call.timeout.count() > 0 ? call.timeout : limits.request_timeout;
        for (int attempt = 0;; ++attempt) {
            MSTEAMS_TRY(take_turn(call, deadline));
            if (attempt == 0 && call.kind != nullptr && call.count_kind) {
                count(call.kind);
            }
            http::Request req;
            req.method = call.method;
            req.url = call.url;
            req.headers.emplace_back("Accept", call.accept);
            if (!call.token.empty()) {
                req.headers.emplace_back("Authorization", "Bearer " + call.token);
            }
            if (!call.content_type.empty()) {
                req.headers.emplace_back("Content-Type", call.content_type);
            }
            req.body = call.body;
            req.timeout = timeout;
            req.max_response_body = call.max_body;
            count(&Counters::requests);
            auto const sent_at = Clock::now();
            auto result = http->send(std::move(req));
            observer->graph_request(endpoint_class(call.kind), result ? result->status : 0, Clock::now() - sent_at);

            Error failure;
            milliseconds pause{0};
            bool applied_maybe = false;
            bool held = false;  // the pause is the chat budget's: the retry waits for its turn
            if (!result) {
                failure = result.error();
                applied_maybe = failure.outcome_unknown;
                if (failure.code != ErrorCode::unavailable) {
                    failure.message = call.what + ": " + failure.message;
                    failure.outcome_unknown = applied_maybe && !repeat;
                    return std::unexpected(std::move(failure));
                }
                pause = backoff(attempt);
            } else if (result->status == 429) {
                count(&Counters::throttled);
                failure = graph_error(*result);
                pause = failure.retry_after.count() > 0 ? milliseconds(failure.retry_after) : backoff(attempt);
                held = hold_chat_budget(call, pause);
            } else if (result->status == 503 && graph_error(*result).retry_after.count() > 0) {
                failure = graph_error(*result);
                pause = milliseconds(failure.retry_after);
            } else if (result->status >= 500) {
                failure = graph_error(*result);
                applied_maybe = true;
                pause = backoff(attempt);
            } else {
                return std::move(*result);
            }
            failure.outcome_unknown = false;

            if (applied_maybe && !repeat) {
                failure.code = ErrorCode::unavailable;
                failure.outcome_unknown = true;
                // Without an answer, not before a request still in progress at Graph would have finished.
                failure.retry_after =
                    std::max(failure.retry_after, result ? std::chrono::seconds(1) : ceil_seconds(timeout));
                failure.message =
                    call.what + ": " + failure.message + " (Microsoft Graph may have applied it; not sent again)";
                log::warn("graph: a request's outcome is unknown; not sending it again",
                          {{"request", call.what}, {"status", std::to_string(failure.http_status)}});
                return std::unexpected(std::move(failure));
            }
            auto const left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
            if (pause > left) {
                failure.code = ErrorCode::unavailable;
                failure.retry_after = ceil_seconds(pause);
                failure.message = call.what + ": " + failure.message + " (gave up after " +
                                  std::to_string(attempt + 1) + (attempt == 0 ? " attempt)" : " attempts)");
                log::warn("graph: giving up on a request",
                          {{"request", call.what},
                           {"attempts", std::to_string(attempt + 1)},
                           {"retry_after_s", std::to_string(failure.retry_after.count())}});
                return std::unexpected(std::move(failure));
            }
            log::debug("graph: retrying a request", {{"request", call.what},
                                                     {"status", std::to_string(failure.http_status)},
                                                     {"pause_ms", std::to_string(pause.count())}});
            if (!held && !interruptible_wait(pause)) {
                failure.code = ErrorCode::unavailable;
                failure.message = call.what + ": " + failure.message + " (not retried: the bridge is stopping)";
                return std::unexpected(std::move(failure));
            }
            count(&Counters::retries);
            observer->graph_retry();
        }
    }

    // A JSON object answer with one of the expected statuses; anything else is graph_error() (or a clear internal
    // error for a malformed body).
    Result<json> json_call(Call const& call, std::initializer_list<int> expected) {
        http::Response r;
        MSTEAMS_TRY_ASSIGN(r, exchange(call));
        if (std::find(expected.begin(), expected.end(), r.status) == expected.end()) {
            auto e = graph_error(r);
            e.message = call.what + ": " + e.message;
            return std::unexpected(std::move(e));
        }
        auto j = json::parse(r.body, nullptr, false);
        if (j.is_discarded() || !j.is_object()) {
            return fail(ErrorCode::internal, call.what + ": Microsoft Graph answered " + std::to_string(r.status) +
                                                 " without a JSON object");
        }
        return j;
    }

    // A call without an answer body worth reading (204 and friends).
    Status status_call(Call const& call, std::initializer_list<int> expected) {
        http::Response r;
        MSTEAMS_TRY_ASSIGN(r, exchange(call));
        if (std::find(expected.begin(), expected.end(), r.status) == expected.end()) {
            auto e = graph_error(r);
            e.message = call.what + ": " + e.message;
            return std::unexpected(std::move(e));
        }
        return {};
    }

    // The next page of a collection: absent → "", a string on this Graph host → it, anything else → an error (the
    // token must never be sent elsewhere).
    Result<std::string> next_link(json const& page, std::string const& what) const {
        if (!page.contains("@odata.nextLink") || page["@odata.nextLink"].is_null()) {
            return std::string();
        }
        auto const& v = page["@odata.nextLink"];
        if (!v.is_string()) {
            return fail(ErrorCode::internal, what + ": @odata.nextLink is not a string");
        }
        auto link = v.get<std::string>();
        if (!starts_with(link, api + "/")) {
            return fail(ErrorCode::internal, what + ": @odata.nextLink points outside " + api);
        }
        return link;
    }

    static Result<json const*> value_array(json const& page, std::string const& what) {
        if (!page.contains("value") || !page["value"].is_array()) {
            return fail(ErrorCode::internal, what + ": the answer has no value array");
        }
        return &page["value"];
    }

    // A listing read page by page (@odata.nextLink) with a plain GET, until it ends or `max` items were taken;
    // `parse(item, what)` makes one item of each value.
    template <typename T, typename Parse>
    Result<std::vector<T>> list_pages(std::string url, std::string const& token, std::string const& what,
                                      std::size_t max, Parse const& parse) {
        std::vector<T> out;
        while (!url.empty() && out.size() < max) {
            Call call;
            call.url = std::move(url);
            call.token = token;
            call.what = what;
            json page;
            MSTEAMS_TRY_ASSIGN(page, json_call(call, {200}));
            json const* value = nullptr;
            MSTEAMS_TRY_ASSIGN(value, value_array(page, call.what));
            for (auto const& item : *value) {
                if (out.size() >= max) {
                    break;
                }
                T t;
                MSTEAMS_TRY_ASSIGN(t, parse(item, call.what));
                out.push_back(std::move(t));
            }
            MSTEAMS_TRY_ASSIGN(url, next_link(page, call.what));
        }
        return out;
    }

    // GET with redirects followed by hand: Graph answers /content with 302 to a pre-authenticated URL, which gets
    // no Authorization header; only https, at most k_max_redirects.
    Result<std::string> download(Call call) {
        call.max_body = static_cast<std::size_t>(std::max<std::int64_t>(0, limits.max_download_bytes));
        call.accept = "*/*";
        call.timeout = std::max(k_download_timeout, limits.request_timeout);
        for (int redirects = 0;; ++redirects) {
            auto r = exchange(call);
            if (!r) {
                auto e = r.error();
                if (e.code == ErrorCode::too_large) {
                    e.message = call.what + ": the file is larger than the limit of " +
                                std::to_string(limits.max_download_bytes) + " bytes";
                }
                return std::unexpected(std::move(e));
            }
            if (r->status == 200) {
                return std::move(r->body);
            }
            if (r->status == 301 || r->status == 302 || r->status == 303 || r->status == 307 || r->status == 308) {
                if (redirects >= k_max_redirects) {
                    return fail(ErrorCode::internal,
                                call.what + ": more than " + std::to_string(k_max_redirects) + " redirects");
                }
                auto const location = std::string(strings::trim(r->header("Location")));
                if (!starts_with(strings::to_lower(location.substr(0, 8)), "https://")) {
                    return fail(ErrorCode::internal,
                                call.what + ": Microsoft Graph redirected the download to a non-HTTPS location");
                }
                call.url = location;
                call.token.clear();  // pre-authenticated: the bearer token stays with Graph
                call.budget = Budget::none;
                call.count_kind = false;
                call.what += " (redirected)";
                continue;
            }
            auto e = graph_error(*r);
            e.message = call.what + ": " + e.message;
            return std::unexpected(std::move(e));
        }
    }
};

Client::Client(std::shared_ptr<http::Client> http, std::string graph_base, Limits limits,
               std::shared_ptr<Observer> observer)
    : impl_(std::make_unique<Impl>(std::move(http), std::move(graph_base), limits, std::move(observer))) {}

Client::~Client() = default;

void Client::stop() noexcept {
    {
        std::lock_guard lock(impl_->stop_mutex);
        impl_->stopping = true;
    }
    impl_->stop_cv.notify_all();
}

Counters Client::counters() const {
    std::lock_guard lock(impl_->counters_mutex);
    return impl_->counters;
}

// --- users -----------------------------------------------------------------------------------------------------------

Result<GraphUser> Client::get_user(std::string const& token, std::string const& id_or_upn) {
    Call call;
    call.url = impl_->api + "/users/" + detail::path_segment(id_or_upn) +
               "?$select=id,displayName,mail,userPrincipalName,userType,accountEnabled";
    call.token = token;
    call.kind = &Counters::user_gets;
    call.what = "GET user";
    json j;
    MSTEAMS_TRY_ASSIGN(j, impl_->json_call(call, {200}));
    std::string problem;
    auto u = user_from(j, problem);
    if (!problem.empty()) {
        return fail(ErrorCode::internal, call.what + ": malformed answer: " + problem);
    }
    return u;
}

namespace {

constexpr char const* k_user_select = "$select=id,displayName,mail,userPrincipalName,userType,accountEnabled";

Result<std::vector<GraphUser>> users_in(json const& page, std::string const& what) {
    if (!page.contains("value") || !page["value"].is_array()) {
        return fail(ErrorCode::internal, what + ": the answer has no value array");
    }
    std::vector<GraphUser> out;
    for (auto const& item : page["value"]) {
        std::string problem;
        auto u = user_from(item, problem);
        if (!problem.empty()) {
            std::string message = what;
            message += ": malformed answer: ";
            message += problem;
            return fail(ErrorCode::internal, message);
        }
        out.push_back(std::move(u));
    }
    return out;
}

}  // namespace

Result<std::vector<GraphUser>> Client::find_users_by_address(std::string const& token, std::string const& address) {
    if (address.empty()) {
        return std::vector<GraphUser>{};
    }
    auto const literal = detail::odata_string(address);
    Call call;
    call.url = impl_->api +
               "/users?$filter=" + strings::url_encode("mail eq " + literal + " or userPrincipalName eq " + literal) +
               "&" + k_user_select;
    call.token = token;
    call.kind = &Counters::user_gets;
    call.what = "GET users by address";
    json j;
    MSTEAMS_TRY_ASSIGN(j, impl_->json_call(call, {200}));
    return users_in(j, call.what);
}

Result<UserPage> Client::list_users(std::string const& token, std::string const& next_link, std::size_t page_size) {
    Call call;
    if (next_link.empty()) {
        page_size = std::clamp<std::size_t>(page_size, 1, k_max_user_page);
        call.url = impl_->api + "/users?" + k_user_select + "&$top=" + std::to_string(page_size);
    } else {
        // A link the bridge stored: it goes to this Graph host only (the token must never go elsewhere).
        if (!starts_with(next_link, impl_->api + "/users?")) {
            return fail(ErrorCode::invalid_argument, "list users: the next page's link is not this Graph's /users");
        }
        call.url = next_link;
    }
    call.token = token;
    call.kind = &Counters::user_gets;
    call.what = "GET users";
    json j;
    MSTEAMS_TRY_ASSIGN(j, impl_->json_call(call, {200}));
    UserPage page;
    MSTEAMS_TRY_ASSIGN(page.users, users_in(j, call.what));
    MSTEAMS_TRY_ASSIGN(page.next_link, impl_->next_link(j, call.what));
    return page;
}

Result<std::optional<std::string>> Client::get_user_photo(std::string const& token, TeamsUserId const& id) {
    Call call;
    call.url = impl_->api + "/users/" + detail::path_segment(id) + "/photo/$value";
    call.token = token;
    call.kind = &Counters::photo_gets;
    call.accept = "image/*";
    call.max_body = k_max_photo_bytes;
    call.what = "GET user photo";
    http::Response r;
    MSTEAMS_TRY_ASSIGN(r, impl_->exchange(call));
    if (r.status == 404) {
        return std::optional<std::string>();  // no photo (ImageNotFound), or no mailbox to keep one in
    }
    if (r.status != 200) {
        auto e = graph_error(r);
        e.message = call.what + ": " + e.message;
        return std::unexpected(std::move(e));
    }
    return std::optional<std::string>(std::move(r.body));
}

Result<std::vector<Presence>> Client::get_presences(std::string const& token, std::vector<TeamsUserId> const& ids) {
    if (ids.empty() || ids.size() > k_max_presence_ids) {
        return fail(ErrorCode::invalid_argument, "get presences: between 1 and 650 user ids per request");
    }
    Call call;
    call.method = "POST";
    call.url = impl_->api + "/communications/getPresencesByUserId";
    call.token = token;
    call.body = dump(json{{"ids", ids}});
    call.content_type = "application/json";
    call.idempotent = true;  // a read, whatever its method
    call.kind = &Counters::presence_reads;
    call.what = "POST getPresencesByUserId";
    json j;
    MSTEAMS_TRY_ASSIGN(j, impl_->json_call(call, {200}));
    json const* items = nullptr;
    MSTEAMS_TRY_ASSIGN(items, Impl::value_array(j, call.what));
    std::vector<Presence> out;
    for (auto const& item : *items) {
        std::string problem;
        Fields f(item, "presence", &problem);
        Presence p{f.id<TeamsUserId>("id"), f.str("availability"), f.str("activity")};
        if (!problem.empty() || p.id.empty()) {
            return fail(ErrorCode::internal, call.what + ": malformed answer: " +
                                                 (problem.empty() ? std::string("a presence has no id") : problem));
        }
        out.push_back(std::move(p));
    }
    return out;
}

// --- activity feed ---------------------------------------------------------------------------------------------------

namespace {

json activity_body(ActivityNotification const& n) {
    json params = json::array();
    for (auto const& [name, value] : n.template_parameters) {
        params.push_back(json{{"name", name}, {"value", value}});
    }
    json body{{"topic", {{"source", "text"}, {"value", n.topic}, {"webUrl", n.web_url}}},
              {"activityType", n.activity_type},
              {"previewText", {{"content", n.preview}, {"contentType", "text"}}},
              {"templateParameters", std::move(params)}};
    if (n.chain_id != 0) {
        body["chainId"] = n.chain_id;
    }
    return body;
}

}  // namespace

Status Client::send_activity_notification(std::string const& token, TeamsUserId const& user_id,
                                          ActivityNotification const& n) {
    Call call;
    call.method = "POST";
    call.url = impl_->api + "/users/" + strings::url_encode(user_id.str()) + "/teamwork/sendActivityNotification";
    call.token = token;
    call.body = dump(activity_body(n));
    call.content_type = "application/json";
    call.budget = Budget::feed;
    call.idempotent = n.chain_id != 0;  // a repeat with the chain id replaces the first
    call.kind = &Counters::activity_notifications;
    call.what = "POST sendActivityNotification";
    return impl_->status_call(call, {200, 202, 204});
}

Status Client::send_activity_notification_to_recipients(std::string const& token,
                                                        std::vector<TeamsUserId> const& user_ids,
                                                        ActivityNotification const& n) {
    if (user_ids.empty() || user_ids.size() > k_max_activity_recipients) {
        return fail(ErrorCode::invalid_argument, "sendActivityNotificationToRecipients takes 1 to " +
                                                     std::to_string(k_max_activity_recipients) + " recipients, not " +
                                                     std::to_string(user_ids.size()));
    }
    auto body = activity_body(n);
    auto& recipients = body["recipients"] = json::array();
    for (auto const& id : user_ids) {
        recipients.push_back(
            json{{"@odata.type", "microsoft.graph.aadUserNotificationRecipient"}, {"userId", id.str()}});
    }
    Call call;
    call.method = "POST";
    call.url = impl_->api + "/teamwork/sendActivityNotificationToRecipients";
    call.token = token;
    call.body = dump(body);
    call.content_type = "application/json";
    call.budget = Budget::feed_bulk;
    call.idempotent = n.chain_id != 0;  // a repeat with the chain id replaces the first in each feed
    call.kind = &Counters::activity_bulk_notifications;
    call.what = "POST sendActivityNotificationToRecipients";
    return impl_->status_call(call, {200, 202, 204});
}

Result<std::optional<std::string>> Client::find_catalog_app(std::string const& token, std::string const& external_id) {
    Call call;
    call.url = impl_->api + "/appCatalogs/teamsApps?$filter=" +
               strings::url_encode("externalId eq " + detail::odata_string(external_id));
    call.token = token;
    call.kind = &Counters::app_installs;
    call.what = "GET appCatalogs/teamsApps";
    json j;
    MSTEAMS_TRY_ASSIGN(j, impl_->json_call(call, {200}));
    json const* items = nullptr;
    MSTEAMS_TRY_ASSIGN(items, Impl::value_array(j, call.what));
    for (auto const& app : *items) {
        std::string problem;
        Fields f(app, "teamsApp", &problem);
        auto id = f.str("id");
        if (problem.empty() && !id.empty()) {
            return std::optional<std::string>(std::move(id));
        }
    }
    return std::optional<std::string>();
}

Status Client::install_app_for_user(std::string const& token, TeamsUserId const& user_id,
                                    std::string const& catalog_app_id) {
    Call call;
    call.method = "POST";
    call.url = impl_->api + "/users/" + strings::url_encode(user_id.str()) + "/teamwork/installedApps";
    call.token = token;
    call.body = dump(
        json{{"teamsApp@odata.bind", impl_->api + "/appCatalogs/teamsApps/" + strings::url_encode(catalog_app_id)}});
    call.content_type = "application/json";
    call.idempotent = true;  // a second install answers 409, which counts as done
    call.kind = &Counters::app_installs;
    call.what = "POST installedApps";
    return impl_->status_call(call, {200, 201, 204, 409});
}

// --- chats -----------------------------------------------------------------------------------------------------------

Result<std::vector<AppSecret>> Client::list_app_secrets(std::string const& token, std::string const& client_id) {
    Call call;
    call.url = impl_->api + "/applications?$filter=" + strings::url_encode("appId eq '" + client_id + "'") +
               "&$select=appId,passwordCredentials";
    call.token = token;
    call.kind = &Counters::application_reads;
    call.what = "GET applications";
    json j;
    MSTEAMS_TRY_ASSIGN(j, impl_->json_call(call, {200}));
    json const* items = nullptr;
    MSTEAMS_TRY_ASSIGN(items, Impl::value_array(j, call.what));
    std::vector<AppSecret> out;
    for (auto const& app : *items) {
        std::string problem;
        Fields f(app, "application", &problem);
        json const* creds = f.array("passwordCredentials");
        if (creds != nullptr) {
            for (auto const& c : *creds) {
                Fields cf(c, "passwordCredential", &problem);
                AppSecret secret{cf.str("hint"), cf.time("endDateTime")};
                if (problem.empty() && secret.end_at > 0) {
                    out.push_back(std::move(secret));
                }
            }
        }
        if (!problem.empty()) {
            return fail(ErrorCode::internal, call.what + ": malformed answer: " + problem);
        }
    }
    return out;
}

// --- teams and channels ----------------------------------------------------------------------------------------------

namespace {

Result<TeamInfo> team_answer(json const& j, std::string const& what) {
    std::string problem;
    Fields f(j, "team", &problem);
    TeamInfo t{f.str("id"), f.str("displayName")};
    if (problem.empty() && !strings::is_guid(t.id)) {
        problem = "team has no GUID id";
    }
    if (!problem.empty()) {
        return fail(ErrorCode::internal, what + ": malformed answer: " + problem);
    }
    return t;
}

Result<ChannelInfo> channel_answer(json const& j, std::string const& what) {
    std::string problem;
    Fields f(j, "channel", &problem);
    ChannelInfo c{f.id<TeamsThreadId>("id"), f.str("displayName"), f.str("membershipType")};
    if (problem.empty() && c.id.empty()) {
        problem = "channel has no id";
    }
    if (!problem.empty()) {
        return fail(ErrorCode::internal, what + ": malformed answer: " + problem);
    }
    return c;
}

}  // namespace

Result<std::vector<TeamInfo>> Client::list_joined_teams(std::string const& token, std::size_t max) {
    return impl_->list_pages<TeamInfo>(impl_->api + "/me/joinedTeams", token, "GET joined teams", max, team_answer);
}

Result<std::vector<ChannelInfo>> Client::list_channels(std::string const& token, std::string const& team_id,
                                                       std::size_t max) {
    return impl_->list_pages<ChannelInfo>(impl_->api + "/teams/" + detail::path_segment(team_id) + "/channels", token,
                                          "GET channels", max, channel_answer);
}

Result<TeamInfo> Client::get_team(std::string const& token, std::string const& team_id) {
    Call call;
    call.url = impl_->api + "/teams/" + detail::path_segment(team_id);
    call.token = token;
    call.what = "GET team";
    json j;
    MSTEAMS_TRY_ASSIGN(j, impl_->json_call(call, {200}));
    return team_answer(j, call.what);
}

Result<ChannelInfo> Client::get_channel(std::string const& token, std::string const& team_id,
                                        TeamsThreadId const& channel_id) {
    Call call;
    call.url = impl_->api + "/teams/" + detail::path_segment(team_id) + "/channels/" + detail::path_segment(channel_id);
    call.token = token;
    call.what = "GET channel";
    json j;
    MSTEAMS_TRY_ASSIGN(j, impl_->json_call(call, {200}));
    return channel_answer(j, call.what);
}

Result<Chat> Client::get_chat(std::string const& token, TeamsThreadId const& chat_id, bool with_members) {
    Call call;
    call.url = impl_->api + "/chats/" + detail::path_segment(chat_id) + (with_members ? "?$expand=members" : "");
    call.token = token;
    call.kind = &Counters::chat_gets;
    call.what = "GET chat";
    json j;
    MSTEAMS_TRY_ASSIGN(j, impl_->json_call(call, {200}));
    std::string problem;
    auto c = chat_from(j, problem);
    if (!problem.empty()) {
        return fail(ErrorCode::internal, call.what + ": malformed answer: " + problem);
    }
    return c;
}

Result<Chat> Client::create_chat(std::string const& token, std::string const& chat_type,
                                 std::vector<TeamsUserId> const& member_ids) {
    if (chat_type != "oneOnOne" && chat_type != "group") {
        return fail(ErrorCode::invalid_argument, "create chat: chatType must be oneOnOne or group");
    }
    if ((chat_type == "oneOnOne" && member_ids.size() != 2) || (chat_type == "group" && member_ids.size() < 3)) {
        return fail(ErrorCode::invalid_argument,
                    "create chat: a oneOnOne chat has two members, a group chat three or more");
    }
    json members = json::array();
    for (auto const& id : member_ids) {
        // users('…') in an OData key: a quote is doubled.
        std::string key;
        for (char c : id.str()) {
            key += c;
            if (c == '\'') {
                key += '\'';
            }
        }
        members.push_back({{"@odata.type", "#microsoft.graph.aadUserConversationMember"},
                           {"roles", json::array({"owner"})},
                           {"user@odata.bind", "https://graph.microsoft.com/v1.0/users('" + key + "')"}});
    }
    Call call;
    call.method = "POST";
    call.url = impl_->api + "/chats";
    call.token = token;
    call.body = dump(json{{"chatType", chat_type}, {"members", std::move(members)}});
    call.content_type = "application/json";
    // Graph returns the existing one-on-one chat of two users; a second group chat would be a new one.
    call.idempotent = chat_type == "oneOnOne";
    call.what = "POST chat";
    json j;
    MSTEAMS_TRY_ASSIGN(j, impl_->json_call(call, {200, 201}));
    std::string problem;
    auto c = chat_from(j, problem);
    if (!problem.empty()) {
        return fail(ErrorCode::internal, call.what + ": malformed answer: " + problem);
    }
    return c;
}

Result<std::vector<Chat>> Client::list_my_chats(std::string const& token, std::size_t max_chats) {
    std::vector<Chat> out;
    std::string url = impl_->api + "/me/chats?$expand=members&$top=" + std::to_string(k_page_size);
    while (!url.empty() && out.size() < max_chats) {
        Call call;
        call.url = url;
        call.token = token;
        call.kind = &Counters::chat_gets;
        call.what = "GET my chats";
        json page;
        MSTEAMS_TRY_ASSIGN(page, impl_->json_call(call, {200}));
        json const* value = nullptr;
        MSTEAMS_TRY_ASSIGN(value, Impl::value_array(page, call.what));
        for (auto const& item : *value) {
            if (out.size() >= max_chats) {
                break;
            }
            std::string problem;
            auto c = chat_from(item, problem);
            if (!problem.empty()) {
                return fail(ErrorCode::internal, call.what + ": malformed answer: " + problem);
            }
            out.push_back(std::move(c));
        }
        MSTEAMS_TRY_ASSIGN(url, impl_->next_link(page, call.what));
    }
    return out;
}

// --- chat messages ---------------------------------------------------------------------------------------------------

namespace {

std::string messages_path(std::string const& api, Thread const& thread) {
    if (thread.channel()) {
        return api + "/teams/" + detail::path_segment(thread.team_id) + "/channels/" + detail::path_segment(thread.id) +
               "/messages";
    }
    return api + "/chats/" + detail::path_segment(thread.id) + "/messages";
}

// One message's URL: in a channel, a reply's ("<root>/<reply>") goes through its root.
std::string message_url(std::string const& api, Thread const& thread, TeamsMessageId const& id) {
    if (thread.channel() && is_channel_reply(id)) {
        auto const& text = id.str();
        auto const slash = text.find('/');
        return messages_path(api, thread) + "/" + detail::path_segment(std::string_view(text).substr(0, slash)) +
               "/replies/" + detail::path_segment(std::string_view(text).substr(slash + 1));
    }
    return messages_path(api, thread) + "/" + detail::path_segment(id);
}

// The budgets of a request about a thread's messages: the chat's or channel's, and a channel's team.
void spend(Call& call, Budget budget, Thread const& thread) {
    call.budget = budget;
    call.chat_id = thread.id.str();
    call.team_id = thread.team_id;
}

// A channel reply read from Graph gets the id the bridge knows it by (see Thread).
void name_reply(ChatMessage& m, Thread const& thread) {
    if (thread.channel() && !m.reply_to_id.empty() && !is_channel_reply(m.id)) {
        m.id = channel_reply_id(m.reply_to_id, m.id);
    }
}

// A parsed message answer, or the problem as an error.
Result<ChatMessage> message_answer(json const& j, Thread const& thread, std::string const& what) {
    std::string problem;
    auto m = message_from(j, problem);
    if (!problem.empty()) {
        return fail(ErrorCode::internal, what + ": malformed answer: " + problem);
    }
    name_reply(m, thread);
    m.raw_json = dump(j);
    return m;
}

}  // namespace

Result<ChatMessage> Client::get_message(std::string const& token, Thread const& chat_id,
                                        TeamsMessageId const& message_id) {
    Call call;
    call.url = message_url(impl_->api, chat_id, message_id);
    call.token = token;
    spend(call, Budget::chat_read, chat_id);
    call.kind = &Counters::message_gets;
    call.what = chat_id.channel() ? "GET channel message" : "GET chat message";
    json j;
    MSTEAMS_TRY_ASSIGN(j, impl_->json_call(call, {200}));
    return message_answer(j, chat_id, call.what);
}

Result<Client::Page> Client::list_messages_since(std::string const& token, Thread const& chat_id, std::int64_t after_ms,
                                                 std::size_t max_messages) {
    return list_messages(token, chat_id, after_ms, max_messages, Keep::newest);
}

Result<Client::Page> Client::list_oldest_messages_since(std::string const& token, Thread const& chat_id,
                                                        std::int64_t after_ms, std::size_t max_messages) {
    return list_messages(token, chat_id, after_ms, max_messages, Keep::oldest);
}

Result<Client::Page> Client::list_messages(std::string const& token, Thread const& chat_id, std::int64_t after_ms,
                                           std::size_t max_messages, Keep keep) {
    Page out;
    if (max_messages == 0) {
        return out;
    }
    if (chat_id.channel()) {
        return list_channel_messages(token, chat_id, after_ms, max_messages, keep);
    }
    std::string url = messages_path(impl_->api, chat_id) + "?$top=" + std::to_string(k_page_size) +
                      "&$orderby=" + strings::url_encode("lastModifiedDateTime desc") +
                      "&$filter=" + strings::url_encode("lastModifiedDateTime gt " + detail::format_time(after_ms));
    // Graph lists newest first. Keeping the oldest means paging to the end while holding at most max_messages: the
    // newest are let go as older ones come (the caller reads again from where this chunk ends).
    std::deque<ChatMessage> kept;
    bool done = false;
    while (!url.empty() && !done) {
        Call call;
        call.url = url;
        call.token = token;
        spend(call, Budget::chat_read, chat_id);
        call.kind = &Counters::message_lists;
        call.what = "GET chat messages";
        json page;
        MSTEAMS_TRY_ASSIGN(page, impl_->json_call(call, {200}));
        json const* value = nullptr;
        MSTEAMS_TRY_ASSIGN(value, Impl::value_array(page, call.what));
        MSTEAMS_TRY_ASSIGN(url, impl_->next_link(page, call.what));
        for (auto const& item : *value) {
            std::string problem;
            auto m = message_from(item, problem);
            if (!problem.empty()) {
                return fail(ErrorCode::internal, call.what + ": malformed answer: " + problem);
            }
            if (m.last_modified_at < after_ms) {
                // Newest first: everything from here on is older (Graph applied the filter already; this guards
                // against a server that did not). One in the same millisecond as after_ms is kept: Graph compares
                // more precisely than its answers show, and a duplicate is better than a loss.
                done = true;
                break;
            }
            if (kept.size() >= max_messages) {
                out.truncated = true;
                if (keep == Keep::newest) {
                    done = true;
                    break;
                }
                kept.pop_front();  // the newest held so far
            }
            m.raw_json = dump(item);
            kept.push_back(std::move(m));
        }
        if (keep == Keep::newest && !done && !url.empty() && kept.size() >= max_messages) {
            out.truncated = true;  // the next page holds more that are newer than after_ms
            done = true;
        }
    }
    out.messages.assign(std::make_move_iterator(kept.rbegin()), std::make_move_iterator(kept.rend()));
    return out;
}

Result<Client::Page> Client::list_channel_messages(std::string const& token, Thread const& channel,
                                                   std::int64_t after_ms, std::size_t max_messages, Keep keep) {
    // Graph lists a channel's roots newest first, each with its replies ($expand=replies), and takes no $filter:
    // pages are read until a whole page of roots was written before the window, and what changed after after_ms is
    // kept. A reply does not move its root's lastModifiedDateTime, so roots are judged by when they were written.
    constexpr std::size_t k_max_pages = 40;
    std::int64_t const oldest_root = after_ms - k_channel_thread_window_ms;
    std::vector<ChatMessage> found;
    std::string url = messages_path(impl_->api, channel) + "?$top=" + std::to_string(k_page_size) + "&$expand=replies";
    for (std::size_t pages = 0; !url.empty() && pages < k_max_pages; ++pages) {
        Call call;
        call.url = url;
        call.token = token;
        spend(call, Budget::chat_read, channel);
        call.kind = &Counters::message_lists;
        call.what = "GET channel messages";
        json page;
        MSTEAMS_TRY_ASSIGN(page, impl_->json_call(call, {200}));
        json const* value = nullptr;
        MSTEAMS_TRY_ASSIGN(value, Impl::value_array(page, call.what));
        MSTEAMS_TRY_ASSIGN(url, impl_->next_link(page, call.what));
        bool recent = false;
        for (auto const& item : *value) {
            ChatMessage root;
            MSTEAMS_TRY_ASSIGN(root, message_answer(item, channel, call.what));
            recent = recent || root.created_at >= oldest_root;
            if (item.contains("replies") && item["replies"].is_array()) {
                for (auto const& r : item["replies"]) {
                    ChatMessage reply;
                    MSTEAMS_TRY_ASSIGN(reply, message_answer(r, channel, call.what));
                    if (reply.reply_to_id.empty()) {
                        reply.reply_to_id = channel_root_of(root.id);
                        name_reply(reply, channel);
                    }
                    if (reply.last_modified_at >= after_ms) {
                        found.push_back(std::move(reply));
                    }
                }
            }
            if (root.last_modified_at >= after_ms) {
                found.push_back(std::move(root));
            }
        }
        if (!recent) {
            break;
        }
    }
    std::stable_sort(found.begin(), found.end(),
                     [](auto const& a, auto const& b) { return a.last_modified_at < b.last_modified_at; });
    Page out;
    if (found.size() > max_messages) {
        out.truncated = true;
        if (keep == Keep::oldest) {
            found.resize(max_messages);
        } else {
            found.erase(found.begin(), found.end() - static_cast<std::ptrdiff_t>(max_messages));
        }
    }
    out.messages = std::move(found);
    return out;
}

Result<ChatMessage> Client::send_message(std::string const& token, Thread const& chat_id, NewMessage const& message) {
    if (!message.reply_to.empty() && !chat_id.channel()) {
        return fail(ErrorCode::invalid_argument, "POST chat message: only channel messages have replies");
    }
    Call call;
    call.method = "POST";
    call.url = message.reply_to.empty()
                   ? messages_path(impl_->api, chat_id)
                   : message_url(impl_->api, chat_id, channel_root_of(message.reply_to)) + "/replies";
    call.token = token;
    call.body = dump(message_body(message));
    call.content_type = "application/json";
    spend(call, Budget::chat_post, chat_id);
    call.kind = &Counters::message_posts;
    call.idempotent = false;  // a second POST is a second message
    call.what = chat_id.channel() ? (message.reply_to.empty() ? "POST channel message" : "POST channel reply")
                                  : "POST chat message";
    json j;
    MSTEAMS_TRY_ASSIGN(j, impl_->json_call(call, {200, 201}));
    auto m = message_answer(j, chat_id, call.what);
    if (m && chat_id.channel() && !message.reply_to.empty() && !is_channel_reply(m->id)) {
        m->id = channel_reply_id(channel_root_of(message.reply_to), m->id);  // an answer without replyToId
    }
    return m;
}

Status Client::update_message(std::string const& token, Thread const& chat_id, TeamsMessageId const& message_id,
                              NewMessage const& message) {
    Call call;
    call.method = "PATCH";
    call.url = message_url(impl_->api, chat_id, message_id);
    call.token = token;
    call.body = dump(message_body(message));
    call.content_type = "application/json";
    spend(call, Budget::chat_write, chat_id);
    call.kind = &Counters::message_writes;
    call.idempotent = true;  // the same body again
    call.what = chat_id.channel() ? "PATCH channel message" : "PATCH chat message";
    return impl_->status_call(call, {200, 204});
}

Status Client::soft_delete_message(std::string const& token, TeamsUserId const& user_id, Thread const& chat_id,
                                   TeamsMessageId const& message_id) {
    Call call;
    call.method = "POST";
    // A chat message is deleted through its sender (/users/{u}/chats/…); a channel message where it is.
    call.url = chat_id.channel() ? message_url(impl_->api, chat_id, message_id) + "/softDelete"
                                 : impl_->api + "/users/" + detail::path_segment(user_id) + "/chats/" +
                                       detail::path_segment(chat_id.id) + "/messages/" +
                                       detail::path_segment(message_id) + "/softDelete";
    call.token = token;
    spend(call, Budget::chat_write, chat_id);
    call.kind = &Counters::message_writes;
    call.idempotent = true;  // deleting a deleted message changes nothing
    call.what = "POST softDelete";
    return impl_->status_call(call, {200, 204});
}

namespace {

Call reaction_call(std::string const& api, std::string const& token, Thread const& chat_id,
                   TeamsMessageId const& message_id, std::string const& reaction_type, char const* action) {
    Call call;
    call.method = "POST";
    call.url = message_url(api, chat_id, message_id) + "/" + action;
    call.token = token;
    call.body = dump(json{{"reactionType", reaction_type}});
    call.content_type = "application/json";
    spend(call, Budget::chat_write, chat_id);
    call.kind = &Counters::message_writes;
    call.idempotent = true;  // one reaction of a kind per user: setting or unsetting it again changes nothing
    call.what = std::string("POST ") + action;
    return call;
}

}  // namespace

Status Client::set_reaction(std::string const& token, Thread const& chat_id, TeamsMessageId const& message_id,
                            std::string const& reaction_type) {
    return impl_->status_call(reaction_call(impl_->api, token, chat_id, message_id, reaction_type, "setReaction"),
                              {200, 204});
}

Status Client::unset_reaction(std::string const& token, Thread const& chat_id, TeamsMessageId const& message_id,
                              std::string const& reaction_type) {
    return impl_->status_call(reaction_call(impl_->api, token, chat_id, message_id, reaction_type, "unsetReaction"),
                              {200, 204});
}

// --- files -----------------------------------------------------------------------------------------------------------

Result<std::string> Client::get_hosted_content(std::string const& token, Thread const& chat_id,
                                               TeamsMessageId const& message_id, std::string const& hosted_content_id) {
    Call call;
    call.url = message_url(impl_->api, chat_id, message_id) + "/hostedContents/" +
               detail::path_segment(hosted_content_id) + "/$value";
    call.token = token;
    spend(call, Budget::chat_read, chat_id);
    call.kind = &Counters::file_downloads;
    call.what = "GET hosted content";
    return impl_->download(std::move(call));
}

Result<std::string> Client::download_shared(std::string const& token, std::string const& content_url) {
    if (!starts_with(strings::to_lower(content_url.substr(0, std::min<std::size_t>(content_url.size(), 8))),
                     "https://")) {
        return fail(ErrorCode::invalid_argument, "download shared file: the content URL is not an https URL");
    }
    Call call;
    call.url = impl_->api + "/shares/" + detail::share_token(content_url) + "/driveItem/content";
    call.token = token;
    call.kind = &Counters::file_downloads;
    call.what = "GET shared driveItem content";
    return impl_->download(std::move(call));
}

Result<DriveItem> Client::upload_chat_file(std::string const& token, std::string const& key, std::string const& name,
                                           std::string const& bytes) {
    auto const plain = [](std::string const& part) {
        return !part.empty() && part != "." && part != ".." && part.find_first_of("/\\") == std::string::npos &&
               std::none_of(part.begin(), part.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; });
    };
    if (!plain(name) || !plain(key)) {
        return fail(ErrorCode::invalid_argument, "upload chat file: the file name or key is empty or not a plain name");
    }
    Call put;
    put.method = "PUT";
    put.url = impl_->api + "/me/drive/root:/" + detail::path_segment(k_chat_files_folder) + "/" +
              detail::path_segment(k_uploads_folder) + "/" + detail::path_segment(key) + "/" +
              detail::path_segment(name) + ":/content?@microsoft.graph.conflictBehavior=replace";
    put.token = token;
    put.body = bytes;
    put.content_type = "application/octet-stream";
    put.kind = &Counters::file_uploads;
    put.timeout = std::max(k_download_timeout, impl_->limits.request_timeout);
    put.idempotent = true;  // the same path again replaces the same item
    put.what = "PUT chat file";
    json j;
    MSTEAMS_TRY_ASSIGN(j, impl_->json_call(put, {200, 201}));
    std::string problem;
    auto item = drive_item_from(j, problem);
    if (!problem.empty()) {
        return fail(ErrorCode::internal, put.what + ": malformed answer: " + problem);
    }
    Call link;
    link.method = "POST";
    link.url = impl_->api + "/me/drive/items/" + detail::path_segment(item.id) + "/createLink";
    link.token = token;
    link.body = R"({"type":"view","scope":"organization"})";
    link.content_type = "application/json";
    link.idempotent = true;  // an existing link of the same type and scope is returned
    link.what = "POST createLink";
    json answer;
    MSTEAMS_TRY_ASSIGN(answer, impl_->json_call(link, {200, 201}));
    return item;
}

// --- subscriptions ---------------------------------------------------------------------------------------------------

namespace {

Result<Subscription> subscription_answer(json const& j, std::string const& what) {
    std::string problem;
    auto s = subscription_from(j, problem);
    if (!problem.empty()) {
        return fail(ErrorCode::internal, what + ": malformed answer: " + problem);
    }
    return s;
}

}  // namespace

Result<Subscription> Client::create_subscription(std::string const& token, Subscription const& wanted) {
    json body = {{"resource", wanted.resource},
                 {"changeType", wanted.change_type},
                 {"notificationUrl", wanted.notification_url},
                 {"expirationDateTime", detail::format_time(wanted.expires_at)}};
    if (!wanted.lifecycle_notification_url.empty()) {
        body["lifecycleNotificationUrl"] = wanted.lifecycle_notification_url;
    }
    if (!wanted.client_state.empty()) {
        body["clientState"] = wanted.client_state;
    }
    if (wanted.include_resource_data) {
        body["includeResourceData"] = true;
        body["encryptionCertificate"] = wanted.encryption_certificate;
        body["encryptionCertificateId"] = wanted.encryption_certificate_id;
    }
    Call call;
    call.method = "POST";
    call.url = impl_->api + "/subscriptions";
    call.token = token;
    call.body = dump(body);
    call.content_type = "application/json";
    call.kind = &Counters::subscription_calls;
    call.idempotent = false;  // a second POST is a second subscription
    call.what = "POST subscription";
    json j;
    MSTEAMS_TRY_ASSIGN(j, impl_->json_call(call, {200, 201}));
    Subscription s;
    MSTEAMS_TRY_ASSIGN(s, subscription_answer(j, call.what));
    if (s.client_state.empty()) {
        s.client_state = wanted.client_state;  // Graph may leave it out of the answer
    }
    return s;
}

Result<Subscription> Client::renew_subscription(std::string const& token, SubscriptionId const& id,
                                                std::int64_t expires_at, std::string const& certificate,
                                                std::string const& certificate_id) {
    json body{{"expirationDateTime", detail::format_time(expires_at)}};
    if (!certificate.empty()) {
        body["encryptionCertificate"] = certificate;
        body["encryptionCertificateId"] = certificate_id;
    }
    Call call;
    call.method = "PATCH";
    call.url = impl_->api + "/subscriptions/" + detail::path_segment(id);
    call.token = token;
    call.body = dump(body);
    call.content_type = "application/json";
    call.kind = &Counters::subscription_calls;
    call.idempotent = true;  // the same expiry again
    call.what = "PATCH subscription";
    json j;
    MSTEAMS_TRY_ASSIGN(j, impl_->json_call(call, {200}));
    return subscription_answer(j, call.what);
}

Status Client::reauthorize_subscription(std::string const& token, SubscriptionId const& id) {
    Call call;
    call.method = "POST";
    call.url = impl_->api + "/subscriptions/" + detail::path_segment(id) + "/reauthorize";
    call.token = token;
    call.kind = &Counters::subscription_calls;
    call.idempotent = true;
    call.what = "POST subscription reauthorize";
    return impl_->status_call(call, {200, 202, 204});
}

Status Client::delete_subscription(std::string const& token, SubscriptionId const& id) {
    Call call;
    call.method = "DELETE";
    call.url = impl_->api + "/subscriptions/" + detail::path_segment(id);
    call.token = token;
    call.kind = &Counters::subscription_calls;
    call.what = "DELETE subscription";
    return impl_->status_call(call, {200, 204, 404});
}

Result<std::vector<Subscription>> Client::list_subscriptions(std::string const& token) {
    std::vector<Subscription> out;
    std::string url = impl_->api + "/subscriptions";
    while (!url.empty()) {
        Call call;
        call.url = url;
        call.token = token;
        call.kind = &Counters::subscription_calls;
        call.what = "GET subscriptions";
        json page;
        MSTEAMS_TRY_ASSIGN(page, impl_->json_call(call, {200}));
        json const* value = nullptr;
        MSTEAMS_TRY_ASSIGN(value, Impl::value_array(page, call.what));
        for (auto const& item : *value) {
            Subscription s;
            MSTEAMS_TRY_ASSIGN(s, subscription_answer(item, call.what));
            out.push_back(std::move(s));
        }
        MSTEAMS_TRY_ASSIGN(url, impl_->next_link(page, call.what));
    }
    return out;
}

}  // namespace msteams::graph
