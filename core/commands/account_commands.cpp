#include "commands/account_commands.hpp"

#include "common/log.hpp"

namespace msteams::commands {
namespace {

Result<std::shared_ptr<sync::Logins>> active(LoginsSource const& source) {
    auto logins = source();
    if (!logins) {
        return fail(ErrorCode::unavailable, "The MS Teams plugin is not active right now. Try again in a moment.");
    }
    return logins;
}

Result<std::string> no_arguments(Invocation const& inv, char const* name) {
    if (!inv.words.empty()) {
        return fail(ErrorCode::invalid_argument, std::string("`/msteams ") + name + "` takes no arguments.");
    }
    return std::string{};
}

std::string describe(store::Account const& a) {
    if (a.teams_display_name.empty()) {
        return a.teams_email;
    }
    return a.teams_display_name + (a.teams_email.empty() ? "" : " (" + a.teams_email + ")");
}

// Storage failures are the server's problem: the user gets a short sentence, the log gets the details.
Error storage_failure(Error const& e) {
    log::error("a /msteams command could not read or write its data", {{"error", e.message}});
    return Error{ErrorCode::unavailable,
                 "That did not work because the plugin could not reach its data. Try again "
                 "in a moment.",
                 0,
                 {}};
}

// The active logins and the caller's account, for the sub-commands that start from both.
struct Caller {
    std::shared_ptr<sync::Logins> logins;
    std::optional<store::Account> account;
    [[nodiscard]] bool connected() const { return account && account->connected(); }
};

Result<Caller> caller(LoginsSource const& source, Invocation const& inv, char const* name) {
    MSTEAMS_TRY(no_arguments(inv, name));
    Caller c;
    MSTEAMS_TRY_ASSIGN(c.logins, active(source));
    auto account = c.logins->account(inv.args.user_id);
    if (!account) {
        return std::unexpected(storage_failure(account.error()));
    }
    c.account = std::move(*account);
    return c;
}

}  // namespace

// Long (over 80 lines) on purpose: one registration per sub-command, each a short handler.
// NOLINTNEXTLINE(readability-function-size)
void add_account_commands(Dispatcher& dispatcher, LoginsSource const& source) {
    dispatcher.add(SubCommand{
        "connect", "", "Connect your Mattermost account to your Microsoft Teams account.", false,
        [source](Invocation const& inv) -> Result<std::string> {
            Caller c;
            MSTEAMS_TRY_ASSIGN(c, caller(source, inv, "connect"));
            if (c.connected()) {
                return "Your account is already connected to Microsoft Teams as " + describe(*c.account) +
                       ". To connect another Teams account, run `/msteams disconnect` first.";
            }
            auto const& logins = c.logins;
            auto const count = logins->count_connected();
            if (!count) {
                return std::unexpected(storage_failure(count.error()));
            }
            if (*count >= logins->limit()) {
                return "No more users can connect to Microsoft Teams right now: the limit set by your system admin "
                       "is reached.";
            }
            return "[Click here to connect your Microsoft Teams account](" + logins->connect_url() +
                   "). Sign in with the Microsoft account that has the same email address as your Mattermost "
                   "account.";
        }});

    dispatcher.add(SubCommand{"disconnect", "", "Disconnect your Microsoft Teams account.", false,
                              [source](Invocation const& inv) -> Result<std::string> {
                                  Caller c;
                                  MSTEAMS_TRY_ASSIGN(c, caller(source, inv, "disconnect"));
                                  if (!c.connected()) {
                                      return std::string("Your account is not connected to Microsoft Teams.");
                                  }
                                  if (auto d = c.logins->disconnect(inv.args.user_id); !d) {
                                      return std::unexpected(storage_failure(d.error()));
                                  }
                                  return "Your account has been disconnected from Microsoft Teams (" +
                                         describe(*c.account) + ").";
                              }});

    dispatcher.add(SubCommand{
        "status", "", "Show whether your account is connected to Microsoft Teams.", false,
        [source](Invocation const& inv) -> Result<std::string> {
            Caller c;
            MSTEAMS_TRY_ASSIGN(c, caller(source, inv, "status"));
            if (!c.connected()) {
                return std::string(
                    "Your account is not connected to Microsoft Teams. Run `/msteams connect` to "
                    "connect it.");
            }
            // Ask Teams, so that a connection that stopped working is found now rather than when a message is lost.
            auto me = c.logins->whoami(inv.args.user_id);
            if (!me) {
                if (me.error().code == ErrorCode::permission_denied || me.error().code == ErrorCode::not_found ||
                    me.error().code == ErrorCode::unauthenticated) {
                    return std::string(
                        "Your Microsoft Teams connection has stopped working and was removed. Run "
                        "`/msteams connect` to connect again.");
                }
                log::warn("checking a Teams connection failed", {{"error", me.error().message}});
                return "Your account is connected to Microsoft Teams as " + describe(*c.account) +
                       ", but Microsoft Teams could not be reached to check it just now.";
            }
            return "Your account is connected to Microsoft Teams as " +
                   (me->display_name.empty() ? me->mail : me->display_name + " (" + me->mail + ")") + ".";
        }});

    dispatcher.add(SubCommand{
        "connect-bot", "", "Connect the msteams bot to a Teams account, to post for users who are not connected.", true,
        [source](Invocation const& inv) -> Result<std::string> {
            MSTEAMS_TRY(no_arguments(inv, "connect-bot"));
            std::shared_ptr<sync::Logins> logins;
            MSTEAMS_TRY_ASSIGN(logins, active(source));
            return "[Click here to connect the bot to a Microsoft Teams account](" + logins->connect_url() +
                   "?purpose=bot). Sign in with the Teams account that should post for users who are not connected.";
        }});

    dispatcher.add(SubCommand{"disconnect-bot", "", "Disconnect the msteams bot from its Teams account.", true,
                              [source](Invocation const& inv) -> Result<std::string> {
                                  MSTEAMS_TRY(no_arguments(inv, "disconnect-bot"));
                                  std::shared_ptr<sync::Logins> logins;
                                  MSTEAMS_TRY_ASSIGN(logins, active(source));
                                  auto d = logins->disconnect(logins->bot_user_id());
                                  if (!d) {
                                      if (d.error().code == ErrorCode::not_found) {
                                          return std::string("The bot is not connected to Microsoft Teams.");
                                      }
                                      return std::unexpected(storage_failure(d.error()));
                                  }
                                  return std::string("The bot has been disconnected from Microsoft Teams.");
                              }});
}

}  // namespace msteams::commands
