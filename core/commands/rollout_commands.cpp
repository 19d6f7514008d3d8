#include "commands/rollout_commands.hpp"

#include "common/clock.hpp"
#include "common/log.hpp"
#include "common/strings.hpp"

namespace msteams::commands {
namespace {

constexpr int k_max_chat_members = 16;  // a GM has at most 8

Result<std::shared_ptr<RolloutContext const>> active(RolloutSource const& source) {
    auto ctx = source();
    if (!ctx) {
        return fail(ErrorCode::unavailable, "The MS Teams plugin is not active right now. Try again in a moment.");
    }
    return ctx;
}

Error data_failure(Error const& e) {
    log::error("a /msteams command could not read or write its data", {{"error", e.message}});
    return Error{ErrorCode::unavailable,
                 "That did not work because the plugin could not reach its data. Try again in a moment.",
                 0,
                 {}};
}

std::string strip_at(std::string s) { return !s.empty() && s.front() == '@' ? s.substr(1) : s; }

// The one word a sub-command takes, lower case; nullopt when none was given.
Result<std::optional<std::string>> one_word(Invocation const& inv, std::string const& usage) {
    if (inv.words.size() > 1) {
        return fail(ErrorCode::invalid_argument, "Usage: " + usage);
    }
    if (inv.words.empty()) {
        return std::optional<std::string>();
    }
    return std::optional<std::string>(strings::to_lower(inv.words[0]));
}

// The user an admin sub-command names (`@name`).
Result<mm::User> named_user(mm::Api& api, Invocation const& inv, std::string const& usage) {
    if (inv.words.size() != 1) {
        return fail(ErrorCode::invalid_argument, "Usage: " + usage);
    }
    auto const username = strip_at(strings::to_lower(inv.words[0]));
    auto user = api.get_user_by_username(username);
    if (!user) {
        return fail(ErrorCode::not_found, "There is no user @" + strings::utf8_prefix(username, 64) + ".");
    }
    return *user;
}

Result<store::UserChoice> my_choice(RolloutContext const& ctx, MmUserId const& user_id) {
    auto choices = ctx.roster->choices({user_id});
    if (!choices) {
        return std::unexpected(data_failure(choices.error()));
    }
    return choices->empty() ? store::UserChoice{user_id, ctx.default_primary, false, 0} : choices->front();
}

std::string platform_name(store::Platform p) { return p == store::Platform::teams ? "Microsoft Teams" : "Mattermost"; }

// What the primary platform changes on this server.
std::string primary_note(RolloutContext const& ctx) {
    std::string note;
    if (ctx.feed && ctx.feed->enabled()) {
        note +=
            " With Microsoft Teams, Mattermost's notifications (mentions, direct and group messages, replies to "
            "your threads) go to your Teams activity feed, and Mattermost's email and push notifications are off.";
    }
    if (!ctx.audience->selective_sync()) {
        note += " Selective sync is off on this server, so every chat is bridged whatever you choose.";
    }
    return note;
}

// `/msteams primary mattermost|teams`: the choice, then Mattermost's notifications muted or restored.
Result<std::string> set_primary(RolloutContext const& ctx, MmUserId const& user, store::Platform platform) {
    auto applied = sync::choose_primary(*ctx.roster, *ctx.audience, ctx.feed.get(), user, platform);
    if (!applied) {
        return std::unexpected(data_failure(applied.error()));
    }
    std::string const trouble = *applied ? ""
                                         : " Your Mattermost email and push notification settings could not be "
                                           "changed just now; check them in Settings > Notifications.";
    if (platform == store::Platform::teams) {
        return "Your primary platform is now Microsoft Teams." + primary_note(ctx) + trouble;
    }
    return "Your primary platform is now Mattermost: your chats with Teams users are bridged, and Mattermost notifies "
           "you as before." +
           trouble;
}

// For `/msteams status` in a DM or GM: whether this chat is bridged, and why. Empty elsewhere.
std::string this_chat(mm::Api& api, RolloutContext const& ctx, MmChannelId const& channel_id) {
    if (channel_id.empty()) {
        return {};
    }
    auto const channel = api.get_channel(channel_id);
    if (!channel || (channel->type != "D" && channel->type != "G")) {
        return {};
    }
    auto const members = api.get_channel_member_ids(channel_id, 0, k_max_chat_members);
    if (!members) {
        return "\n\n**This chat:** could not be checked just now.";
    }
    auto const plan = ctx.audience->for_mm_members(*members);
    if (!plan) {
        log::warn("could not decide whether a chat is bridged", {{"error", plan.error().message}});
        return "\n\n**This chat:** could not be checked just now.";
    }
    return "\n\n**This chat:** " + plan->reason;
}

}  // namespace

// Long (over 80 lines) on purpose: one registration per sub-command, each a short handler.
// NOLINTNEXTLINE(readability-function-size)
void add_rollout_commands(Dispatcher& dispatcher, mm::Api& api, RolloutSource const& source) {
    // `/msteams connect` refuses first those the rollout controls leave out.
    if (auto const* connect = dispatcher.find("connect"); connect != nullptr && connect->run) {
        SubCommand extended = *connect;
        extended.run = [source, base = connect->run](Invocation const& inv) -> Result<std::string> {
            auto const ctx = source();
            if (ctx && ctx->admission && ctx->admission->restricted() && inv.words.empty()) {
                auto const account = ctx->repos.accounts->by_mm_user(inv.args.user_id);
                if (!account) {
                    return std::unexpected(data_failure(account.error()));
                }
                if (!*account || !(*account)->connected()) {
                    auto refused = ctx->admission->refusal(inv.args.user_id);
                    if (!refused) {
                        return std::unexpected(data_failure(refused.error()));
                    }
                    if (*refused) {
                        return **refused;
                    }
                }
            }
            return base(inv);
        };
        dispatcher.add(std::move(extended));
    }

    // `/msteams status` in a DM or GM also tells whether that chat is bridged.
    if (auto const* status = dispatcher.find("status"); status != nullptr && status->run) {
        SubCommand extended = *status;
        extended.run = [&api, source, base = status->run](Invocation const& inv) -> Result<std::string> {
            auto reply = base(inv);
            auto const ctx = source();
            if (!reply || !inv.words.empty() || !ctx) {
                return reply;
            }
            return *reply + this_chat(api, *ctx, inv.args.channel_id);
        };
        dispatcher.add(std::move(extended));
    }

    dispatcher.add(SubCommand{
        "primary", "[mattermost|teams]",
        "Show or set where you read Mattermost: with Teams, Mattermost's notifications go to your Teams activity "
        "feed, and with selective sync, chats of people who all use Teams are not bridged.",
        false, [source](Invocation const& inv) -> Result<std::string> {
            std::optional<std::string> word;
            MSTEAMS_TRY_ASSIGN(word, one_word(inv, "`/msteams primary [mattermost|teams]`"));
            std::shared_ptr<RolloutContext const> ctx;
            MSTEAMS_TRY_ASSIGN(ctx, active(source));
            if (!word) {
                store::UserChoice choice;
                MSTEAMS_TRY_ASSIGN(choice, my_choice(*ctx, inv.args.user_id));
                return "Your primary platform is " + platform_name(choice.primary) +
                       ". Change it with `/msteams primary mattermost` or `/msteams primary teams`." +
                       primary_note(*ctx);
            }
            auto const platform = store::parse<store::Platform>(*word);
            if (!platform) {
                return fail(ErrorCode::invalid_argument, "Usage: `/msteams primary [mattermost|teams]`.");
            }
            return set_primary(*ctx, inv.args.user_id, *platform);
        }});

    dispatcher.add(SubCommand{
        "notifications", "[on|off]",
        "Show or set notifications-only mode: the bot tells you of new Teams chat messages instead of mirroring "
        "your chats.",
        false, [source](Invocation const& inv) -> Result<std::string> {
            std::optional<std::string> word;
            MSTEAMS_TRY_ASSIGN(word, one_word(inv, "`/msteams notifications [on|off]`"));
            std::shared_ptr<RolloutContext const> ctx;
            MSTEAMS_TRY_ASSIGN(ctx, active(source));
            if (!word) {
                store::UserChoice choice;
                MSTEAMS_TRY_ASSIGN(choice, my_choice(*ctx, inv.args.user_id));
                return choice.notifications
                           ? std::string(
                                 "Notifications only is on: the bot tells you of new Teams chat messages "
                                 "while you are not active in Teams. `/msteams notifications off` mirrors "
                                 "your chats again.")
                           : std::string(
                                 "Notifications only is off: your Teams chats are mirrored. "
                                 "`/msteams notifications on` has the bot tell you of new messages instead.");
            }
            if (*word != "on" && *word != "off") {
                return fail(ErrorCode::invalid_argument, "Usage: `/msteams notifications [on|off]`.");
            }
            bool const on = *word == "on";
            if (auto s = ctx->roster->set_notifications(inv.args.user_id, on, now_ms()); !s) {
                return std::unexpected(data_failure(s.error()));
            }
            ctx->audience->forget(inv.args.user_id);
            log::info("a user chose notifications only",
                      {{"user_id", inv.args.user_id}, {"notifications", on ? "on" : "off"}});
            if (on) {
                return std::string(
                    "Notifications only is on: instead of mirroring your Teams chats, the bot sends you a direct "
                    "message for each new Teams chat message while you are not active in Teams. A chat with "
                    "someone who reads it here in full is still mirrored.");
            }
            return std::string("Notifications only is off: your Teams chats are mirrored again.");
        }});

    dispatcher.add(SubCommand{
        "invite", "[@username]", "Invite a user to connect to Microsoft Teams (the invite pool).", true,
        [&api, source](Invocation const& inv) -> Result<std::string> {
            mm::User user;
            MSTEAMS_TRY_ASSIGN(user, named_user(api, inv, "`/msteams invite @username`"));
            std::shared_ptr<RolloutContext const> ctx;
            MSTEAMS_TRY_ASSIGN(ctx, active(source));
            auto const pool = ctx->admission ? ctx->admission->settings().invite_pool : 0;
            if (pool <= 0) {
                return fail(ErrorCode::invalid_argument,
                            "The invite pool is off: set *Invite pool size* (invitePoolSize) in System Console > "
                            "Plugins > MS Teams first.");
            }
            auto outcome = ctx->roster->invite(user.id, inv.args.user_id, pool, now_ms());
            if (!outcome) {
                return std::unexpected(data_failure(outcome.error()));
            }
            switch (*outcome) {
                case store::InviteOutcome::already_invited: return "@" + user.username + " is invited already.";
                case store::InviteOutcome::pool_full:
                    return "The invite pool is full (" + std::to_string(pool) +
                           " invited). Raise *Invite pool size* or `/msteams uninvite` someone first.";
                case store::InviteOutcome::invited: break;
            }
            log::info("a user was invited to connect", {{"user_id", user.id}, {"by", inv.args.user_id}});
            if (auto dm = api.get_direct_channel(ctx->bot_user_id, user.id); dm) {
                mm::Post post;
                post.user_id = ctx->bot_user_id;
                post.channel_id = dm->id;
                post.message =
                    "You are invited to connect your Mattermost account to Microsoft Teams. Run `/msteams connect` "
                    "to do it.";
                if (auto p = api.create_post(post); !p) {
                    log::warn("could not tell an invited user", {{"error", p.error().message}});
                }
            }
            return "@" + user.username + " is invited to connect to Microsoft Teams and was told so.";
        }});

    dispatcher.add(SubCommand{"uninvite", "[@username]",
                              "Take back an invitation to connect (a connected user stays connected).", true,
                              [&api, source](Invocation const& inv) -> Result<std::string> {
                                  mm::User user;
                                  MSTEAMS_TRY_ASSIGN(user, named_user(api, inv, "`/msteams uninvite @username`"));
                                  std::shared_ptr<RolloutContext const> ctx;
                                  MSTEAMS_TRY_ASSIGN(ctx, active(source));
                                  auto removed = ctx->roster->uninvite(user.id);
                                  if (!removed) {
                                      return std::unexpected(data_failure(removed.error()));
                                  }
                                  return *removed ? "@" + user.username + " is no longer invited."
                                                  : "@" + user.username + " was not invited.";
                              }});

    dispatcher.add(SubCommand{
        "connected-users", "", "Get the report of connected users (CSV).", true,
        [source](Invocation const& inv) -> Result<std::string> {
            if (!inv.words.empty()) {
                return fail(ErrorCode::invalid_argument, "`/msteams connected-users` takes no arguments.");
            }
            std::shared_ptr<RolloutContext const> ctx;
            MSTEAMS_TRY_ASSIGN(ctx, active(source));
            auto const count = ctx->repos.accounts->count_connected();
            if (!count) {
                return std::unexpected(data_failure(count.error()));
            }
            std::string invites;
            if (ctx->admission && ctx->admission->settings().invite_pool > 0) {
                auto const n = ctx->roster->invite_count();
                invites = n ? ", " + std::to_string(*n) + " of " +
                                  std::to_string(ctx->admission->settings().invite_pool) + " invitations used"
                            : "";
            }
            return std::to_string(*count) + " users are connected (at most " +
                   std::to_string(ctx->connected_users_allowed) + invites +
                   "). [Download the connected-users report (CSV)](" + ctx->report_url +
                   "): Mattermost user, Teams user, connected since, last activity and token health.";
        }});
}

}  // namespace msteams::commands
