#include "commands/admin_commands.hpp"

#include <charconv>
#include <optional>

#include "common/clock.hpp"
#include "common/log.hpp"
#include "common/strings.hpp"
#include "graph/entra.hpp"
#include "sync/promotion.hpp"

namespace msteams::commands {
namespace {

Result<std::shared_ptr<AdminContext const>> active(AdminSource const& source) {
    auto ctx = source();
    if (!ctx) {
        return fail(ErrorCode::unavailable, "The MS Teams plugin is not active right now. Try again in a moment.");
    }
    return ctx;
}

Error data_failure(Error const& e) {
    log::error("a /msteams admin command could not read or write its data", {{"error", e.message}});
    return Error{ErrorCode::unavailable,
                 "That did not work because the plugin could not reach its data. Try again in a moment.",
                 0,
                 {}};
}

// A table cell: no pipes or line breaks from names.
std::string cell(std::string s) {
    for (auto& c : s) {
        if (c == '|' || c == '\n' || c == '\r') {
            c = ' ';
        }
    }
    return s;
}

std::string strip_at(std::string s) { return !s.empty() && s.front() == '@' ? s.substr(1) : s; }

// At most `n` bytes of `s` without cutting a UTF-8 sequence, "…" when cut.
std::string shorten(std::string const& s, std::size_t n) {
    if (s.size() <= n) {
        return s;
    }
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) {
        --n;
    }
    return s.substr(0, n) + "…";
}

constexpr std::size_t k_dead_letters_shown = 5;

// The dead-letter lines of `/msteams status` for system admins.
Result<std::string> dead_letter_summary(store::DeadLetters& dead_letters) {
    std::int64_t count = 0;
    MSTEAMS_TRY_ASSIGN(count, dead_letters.count());
    if (count == 0) {
        return std::string("\n\nNo dead letters: every change was delivered or is still being tried.");
    }
    std::vector<store::DeadLetter> newest;
    MSTEAMS_TRY_ASSIGN(newest, dead_letters.newest(k_dead_letters_shown));
    std::string out = "\n\n**Dead letters: " + std::to_string(count) +
                      "** (changes that kept failing and were set aside; `/msteams retry-dead-letters all` tries them "
                      "again, `/msteams discard-dead-letters all` drops them). Newest:\n| Id | Direction | "
                      "Conversation | Attempts | Last failure | Error |\n"
                      "|---|---|---|---|---|---|\n";
    for (auto const& d : newest) {
        out += "| " + std::to_string(d.id) + " | " +
               (d.direction == store::Direction::inbound ? "Teams → Mattermost" : "Mattermost → Teams") + " | " +
               cell(shorten(d.thread_id, 80)) + " | " + std::to_string(d.attempts) + " | " +
               utc_text(d.last_failed_at) + " | " + cell(shorten(d.error, 200)) + " |\n";
    }
    return out;
}

// The dead letter a retry or discard names: its id, or nullopt for `all`.
Result<std::optional<std::int64_t>> dead_letter_id(Invocation const& inv, std::string const& command) {
    if (inv.words.size() != 1) {
        return fail(ErrorCode::invalid_argument,
                    "Usage: `/msteams " + command + " [id|all]`; `/msteams status` lists them.");
    }
    if (inv.words[0] == "all") {
        return std::optional<std::int64_t>();
    }
    std::int64_t n = 0;
    auto const& w = inv.words[0];
    auto const [end, ec] = std::from_chars(w.data(), w.data() + w.size(), n);
    if (ec != std::errc() || end != w.data() + w.size() || n <= 0) {
        return fail(
            ErrorCode::invalid_argument,
            "`" + shorten(w, 40) + "` is not a dead-letter id: give a number from `/msteams status`, or `all`.");
    }
    return std::optional<std::int64_t>(n);
}

std::string no_dead_letter(std::optional<std::int64_t> id) {
    return id ? "There is no dead letter " + std::to_string(*id) + "." : std::string("There are no dead letters.");
}

}  // namespace

bool valid_username(std::string const& name) {
    if (name.size() < 3 || name.size() > 22 || name.front() < 'a' || name.front() > 'z') {
        return false;
    }
    for (char c : name) {
        bool const ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
        if (!ok) {
            return false;
        }
    }
    return true;
}

// `/msteams status @user` for system admins: whether the user is on a rich subscription of their own, and why.
Result<std::string> explain_user(mm::Api& api, AdminSource const& source, Invocation const& inv) {
    if (inv.words.size() != 1) {
        return fail(ErrorCode::invalid_argument, "Usage: `/msteams status` or `/msteams status @username`.");
    }
    auto const username = strip_at(inv.words[0]);
    if (!valid_username(username)) {
        return fail(ErrorCode::invalid_argument, "`" + strings::utf8_prefix(username, 64) + "` is not a username.");
    }
    std::shared_ptr<AdminContext const> ctx;
    MSTEAMS_TRY_ASSIGN(ctx, active(source));
    auto const user = api.get_user_by_username(username);
    if (!user) {
        return fail(ErrorCode::not_found, "There is no user @" + username + ".");
    }
    auto const account = ctx->repos.accounts->by_mm_user(user->id);
    if (!account) {
        return std::unexpected(data_failure(account.error()));
    }
    if (!*account || !(*account)->connected()) {
        return "@" + username +
               " has no connected Teams account: the bridge hears of their chats only through "
               "connected members.";
    }
    if (!ctx->explain_subscription) {
        return "@" + username +
               " is heard through the global subscription (every connected user is, in this subscription mode).";
    }
    std::string line;
    MSTEAMS_TRY_ASSIGN(line, ctx->explain_subscription((*account)->teams_user_id));
    return "@" + username + ": " + line + ".";
}

// Long (over 80 lines) on purpose: one registration per sub-command, each a short handler, listed as /msteams help
// lists them.
// NOLINTNEXTLINE(readability-function-size)
void add_admin_commands(Dispatcher& dispatcher, mm::Api& api, AdminSource const& source) {
    // `/msteams status` also shows system admins the dead letters.
    if (auto const* status = dispatcher.find("status"); status != nullptr && status->run) {
        SubCommand extended = *status;
        extended.run = [&api, source, base = status->run](Invocation const& inv) -> Result<std::string> {
            auto const admin = api.has_permission_to(inv.args.user_id, "manage_system");
            // `/msteams status @user` is for system admins; for anyone else the arguments are refused as before.
            if (!inv.words.empty() && admin && *admin) {
                return explain_user(api, source, inv);
            }
            auto reply = base(inv);
            if (!reply || !admin || !*admin) {
                return reply;
            }
            auto const ctx = source();
            if (!ctx) {
                return reply;
            }
            auto const details = ctx->status_details ? ctx->status_details() : std::string();
            auto summary = dead_letter_summary(*ctx->repos.dead_letters);
            if (!summary) {
                log::warn("could not read the dead letters", {{"error", summary.error().message}});
                return *reply + details + "\n\nThe dead letters could not be read just now.";
            }
            return *reply + details + *summary;
        };
        dispatcher.add(std::move(extended));
    }

    dispatcher.add(SubCommand{"retry-dead-letters", "[id|all]",
                              "Try again the changes that kept failing and were set aside (see `/msteams status`).",
                              true, [source](Invocation const& inv) -> Result<std::string> {
                                  std::optional<std::int64_t> id;
                                  MSTEAMS_TRY_ASSIGN(id, dead_letter_id(inv, "retry-dead-letters"));
                                  std::shared_ptr<AdminContext const> ctx;
                                  MSTEAMS_TRY_ASSIGN(ctx, active(source));
                                  auto retried = ctx->repos.dead_letters->retry(id, now_ms());
                                  if (!retried) {
                                      return std::unexpected(data_failure(retried.error()));
                                  }
                                  if (*retried == 0) {
                                      return no_dead_letter(id);
                                  }
                                  log::info("dead letters put back by an admin",
                                            {{"user_id", inv.args.user_id}, {"count", std::to_string(*retried)}});
                                  return std::to_string(*retried) + (*retried == 1 ? " change was" : " changes were") +
                                         " put back in the queue and will be tried again.";
                              }});

    dispatcher.add(SubCommand{"discard-dead-letters", "[id|all]",
                              "Drop for good the changes that kept failing and were set aside (see `/msteams status`).",
                              true, [source](Invocation const& inv) -> Result<std::string> {
                                  std::optional<std::int64_t> id;
                                  MSTEAMS_TRY_ASSIGN(id, dead_letter_id(inv, "discard-dead-letters"));
                                  std::shared_ptr<AdminContext const> ctx;
                                  MSTEAMS_TRY_ASSIGN(ctx, active(source));
                                  auto discarded = ctx->repos.dead_letters->discard(id);
                                  if (!discarded) {
                                      return std::unexpected(data_failure(discarded.error()));
                                  }
                                  if (*discarded == 0) {
                                      return no_dead_letter(id);
                                  }
                                  log::info("dead letters discarded by an admin",
                                            {{"user_id", inv.args.user_id}, {"count", std::to_string(*discarded)}});
                                  return std::to_string(*discarded) +
                                         (*discarded == 1 ? " change was" : " changes were") +
                                         " discarded: " + (*discarded == 1 ? "it" : "they") + " will not be bridged.";
                              }});

    dispatcher.add(SubCommand{
        "show-links", "", "Show the Mattermost channels linked to Teams channels.", true,
        [&api, source](Invocation const& inv) -> Result<std::string> {
            if (!inv.words.empty()) {
                return fail(ErrorCode::invalid_argument, "`/msteams show-links` takes no arguments.");
            }
            std::shared_ptr<AdminContext const> ctx;
            MSTEAMS_TRY_ASSIGN(ctx, active(source));
            auto portals = ctx->repos.portals->list(store::PortalKind::channel);
            if (!portals) {
                return std::unexpected(data_failure(portals.error()));
            }
            if (portals->empty()) {
                return std::string("No channels are linked to Microsoft Teams yet.");
            }
            std::string table = "| Mattermost channel | Teams team | Teams channel | Linked by |\n|---|---|---|---|\n";
            for (auto const& p : *portals) {
                auto const channel = api.get_channel(p.mm_channel_id);
                auto const creator = p.creator_mm_user_id.empty() ? Result<mm::User>(std::unexpected(Error{}))
                                                                  : api.get_user(p.creator_mm_user_id);
                table += "| " +
                         cell(channel ? channel->display_name + " (~" + channel->name + ")" : p.mm_channel_id.str()) +
                         " | " + cell(p.teams_team_id) + " | " + cell(p.teams_thread_id.str()) + " | " +
                         cell(creator ? "@" + creator->username : "") + " |\n";
            }
            return table;
        }});

    dispatcher.add(SubCommand{
        "promote", "[username] [new-username]",
        "Turn a synthetic user (a Teams user who appears in Mattermost) into a normal user, with a new username.", true,
        [&api, source](Invocation const& inv) -> Result<std::string> {
            if (inv.words.size() != 2) {
                return fail(ErrorCode::invalid_argument,
                            "Usage: `/msteams promote [username] [new-username]`, e.g. `/msteams promote "
                            "msteams_alex.wilber alex.wilber`.");
            }
            auto const username = strip_at(inv.words[0]);
            auto const new_username = strip_at(inv.words[1]);
            if (!valid_username(new_username)) {
                return fail(ErrorCode::invalid_argument,
                            "`" + new_username +
                                "` is not a valid username: use 3 to 22 lower-case letters, digits, "
                                "'.', '-' or '_', starting with a letter.");
            }
            std::shared_ptr<AdminContext const> ctx;
            MSTEAMS_TRY_ASSIGN(ctx, active(source));
            auto user = api.get_user_by_username(username);
            if (!user) {
                return fail(ErrorCode::not_found, "There is no user @" + username + ".");
            }
            auto teams = ctx->repos.users->by_mm_id(user->id);
            if (!teams) {
                return std::unexpected(data_failure(teams.error()));
            }
            if (!*teams || !(*teams)->synthetic) {
                return fail(ErrorCode::invalid_argument,
                            "@" + username +
                                " is not a synthetic user: only users the plugin created for Teams "
                                "people can be promoted.");
            }
            if (new_username != username) {
                if (auto taken = api.get_user_by_username(new_username); taken) {
                    return fail(ErrorCode::conflict, "The username @" + new_username + " is taken.");
                }
            }
            auto promoted = sync::promote(api, *ctx->repos.users, *user, **teams, ctx->auth, new_username);
            if (!promoted) {
                if (promoted.error().peer_id == sync::k_update_refused) {
                    return fail(ErrorCode::unavailable, promoted.error().message);
                }
                return std::unexpected(data_failure(promoted.error()));
            }
            log::info("promoted a synthetic user", {{"user_id", user->id}, {"username", new_username}});
            return "@" + new_username + " is now a normal Mattermost user and can sign in with " +
                   (ctx->auth.service == "ldap" ? std::string("AD/LDAP") : std::string("SAML")) + ".";
        }});
}

}  // namespace msteams::commands
