#include "sync/logins.hpp"

#include <nlohmann/json.hpp>

#include "common/clock.hpp"
#include "common/log.hpp"
#include "common/random.hpp"
#include "common/strings.hpp"

namespace msteams::sync {
namespace {

using nlohmann::json;

char const* to_string(Purpose p) { return p == Purpose::bot ? "bot" : "user"; }

constexpr std::int64_t k_activity_gap_ms = 60'000;

}  // namespace

void Logins::set_rollout(std::shared_ptr<Admission> admission, std::shared_ptr<store::Roster> roster,
                         std::function<void(MmUserId const&)> changed) {
    admission_ = std::move(admission);
    roster_ = std::move(roster);
    changed_ = std::move(changed);
}

Result<std::optional<std::string>> Logins::refusal(MmUserId const& mm_user_id) {
    if (!admission_) {
        return std::optional<std::string>();
    }
    return admission_->refusal(mm_user_id);
}

void Logins::record_health(MmUserId const& mm_user_id, store::TokenHealth health) {
    if (!roster_) {
        return;
    }
    if (auto s = roster_->set_health(mm_user_id, health); !s) {
        log::warn("could not record a connection's health", {{"user_id", mm_user_id}, {"error", s.error().message}});
    }
}

void Logins::record_activity(MmUserId const& mm_user_id) {
    if (!roster_) {
        return;
    }
    auto const now = now_ms();
    {
        std::lock_guard lock(activity_mutex_);
        auto& at = active_at_[mm_user_id];
        if (now - at < k_activity_gap_ms) {
            return;
        }
        at = now;
        if (active_at_.size() > 100'000) {
            active_at_.clear();
        }
    }
    if (auto s = roster_->touch(mm_user_id, now, k_activity_gap_ms); !s) {
        log::debug("could not record a connection's last activity", {{"error", s.error().message}});
    }
}

void Logins::changed(MmUserId const& mm_user_id) const {
    if (changed_) {
        changed_(mm_user_id);
    }
}

Logins::Logins(LoginSettings settings, std::shared_ptr<mm::Api> api, std::shared_ptr<store::Accounts> accounts,
               std::shared_ptr<store::OAuthStates> states, std::shared_ptr<graph::SignIn> entra,
               std::shared_ptr<crypto::Sealer const> sealer)
    : settings_(std::move(settings)),
      api_(std::move(api)),
      accounts_(std::move(accounts)),
      states_(std::move(states)),
      entra_(std::move(entra)),
      sealer_(std::move(sealer)) {}

std::string Logins::redirect_uri() const {
    return settings_.site_url + "/plugins/" + settings_.plugin_id + "/oauth-redirect";
}

std::string Logins::connect_url() const { return settings_.site_url + "/plugins/" + settings_.plugin_id + "/connect"; }

Result<std::string> Logins::begin(MmUserId const& mm_user_id, Purpose purpose) {
    MmUserId const owner = purpose == Purpose::bot ? settings_.bot_user_id : mm_user_id;
    if (owner.empty()) {
        return fail(ErrorCode::unavailable, "The msteams bot does not exist yet.");
    }
    std::optional<store::Account> existing;
    MSTEAMS_TRY_ASSIGN(existing, accounts_->by_mm_user(owner));
    if (existing && existing->connected()) {
        return fail(ErrorCode::conflict,
                    purpose == Purpose::bot
                        ? "The bot is already connected to a Teams account. Disconnect it first with /msteams "
                          "disconnect-bot."
                        : "Your account is already connected to Microsoft Teams. To connect another Teams account, "
                          "run /msteams disconnect first.");
    }
    if (purpose == Purpose::user) {
        std::optional<std::string> refused;
        MSTEAMS_TRY_ASSIGN(refused, refusal(owner));
        if (refused) {
            log::info("refused a connection: rollout controls", {{"user_id", owner}});
            return fail(ErrorCode::permission_denied, *refused);
        }
        int connected = 0;
        MSTEAMS_TRY_ASSIGN(connected, accounts_->count_connected());
        if (connected >= settings_.connected_users_allowed) {
            return fail(ErrorCode::permission_denied,
                        "No more users can connect to Microsoft Teams right now: the limit set by your system admin "
                        "is reached.");
        }
    }
    auto const pkce = crypto::make_pkce();
    store::OAuthState state;
    state.state = random::token(43);
    state.mm_user_id = mm_user_id;
    state.verifier_sealed = sealer_->seal(pkce.verifier, mm_user_id.str());
    state.purpose = to_string(purpose);
    state.expires_at = now_ms() + k_state_lifetime_ms;
    MSTEAMS_TRY(states_->put(state));
    return entra_->authorize_url(redirect_uri(), state.state, pkce.challenge);
}

Result<Connected> Logins::finish(std::string const& state_id, std::string const& code,
                                 MmUserId const& session_user_id) {
    // Only the user who started the flow can spend its state: in anyone else's session it stays for its owner.
    auto taken = states_->take(state_id, session_user_id);
    if (!taken) {
        if (taken.error().code == ErrorCode::not_found) {
            return fail(ErrorCode::not_found,
                        "This sign-in link is not valid or was already used. Start again from Mattermost.");
        }
        if (taken.error().code == ErrorCode::permission_denied) {
            log::warn("an OAuth redirect arrived in another user's session", {{"session_user_id", session_user_id}});
            return fail(ErrorCode::permission_denied,
                        "This sign-in was started by another Mattermost user. Start again from your own account.");
        }
        return std::unexpected(taken.error());
    }
    auto const& state = *taken;
    if (state.expires_at < now_ms()) {
        return fail(ErrorCode::invalid_argument,
                    "This sign-in took longer than 5 minutes and expired. Start again from Mattermost.");
    }
    Purpose const purpose = state.purpose == "bot" ? Purpose::bot : Purpose::user;
    auto verifier = sealer_->open(state.verifier_sealed, state.mm_user_id.str());
    if (!verifier) {
        return fail(ErrorCode::permission_denied,
                    "This sign-in can no longer be completed (the plugin's encryption key changed). Start again.");
    }
    graph::Token token;
    MSTEAMS_TRY_ASSIGN(token, entra_->redeem_code(code, redirect_uri(), *verifier));
    graph::Me me;
    MSTEAMS_TRY_ASSIGN(me, entra_->me(token.access_token));

    MmUserId const owner = purpose == Purpose::bot ? settings_.bot_user_id : session_user_id;
    if (purpose == Purpose::user) {
        mm::User user;
        MSTEAMS_TRY_ASSIGN(user, api_->get_user(session_user_id));
        bool const same = (!me.mail.empty() && strings::iequals(me.mail, user.email)) ||
                          (!me.user_principal_name.empty() && strings::iequals(me.user_principal_name, user.email));
        if (!same) {
            return fail(ErrorCode::permission_denied,
                        "The Microsoft account you signed in with (" +
                            (me.mail.empty() ? me.user_principal_name : me.mail) +
                            ") does not have the same email address as your Mattermost account (" + user.email +
                            "). Sign in to Microsoft with the account that matches your Mattermost email.");
        }
        // Asked again: the rules may have changed while the user was signing in.
        std::optional<std::string> refused;
        MSTEAMS_TRY_ASSIGN(refused, refusal(owner));
        if (refused) {
            log::info("refused a connection: rollout controls", {{"user_id", owner}});
            return fail(ErrorCode::permission_denied, *refused);
        }
    }
    store::Account account;
    account.mm_user_id = owner;
    account.teams_user_id = me.id;
    account.teams_email = me.mail.empty() ? me.user_principal_name : me.mail;
    account.teams_display_name = me.display_name;
    account.token_sealed = seal_token(token, owner);
    account.connected_at = now_ms();
    int const limit = purpose == Purpose::bot ? 1'000'000'000 : settings_.connected_users_allowed;
    if (auto stored = accounts_->connect(account, limit); !stored) {
        switch (stored.error().code) {
            case ErrorCode::conflict:
                return fail(ErrorCode::conflict,
                            "This Microsoft Teams account is already connected to another Mattermost user.");
            case ErrorCode::permission_denied:
                return fail(ErrorCode::permission_denied,
                            "No more users can connect to Microsoft Teams right now: the limit set by your system "
                            "admin is reached.");
            default: return std::unexpected(stored.error());
        }
    }
    record_health(owner, store::TokenHealth::ok);
    changed(owner);
    log::info("connected a Teams account",
              {{"user_id", owner}, {"teams_user_id", me.id}, {"purpose", to_string(purpose)}});
    notify_webapp(owner, true, me.display_name, account.teams_email);
    return Connected{owner, me.id, me.display_name, account.teams_email, purpose};
}

Status Logins::abandon(std::string const& state, MmUserId const& session_user_id) {
    auto taken = states_->take(state, session_user_id);
    if (taken || taken.error().code == ErrorCode::not_found) {
        return {};
    }
    if (taken.error().code == ErrorCode::permission_denied) {
        log::warn("an OAuth error redirect arrived in another user's session", {{"session_user_id", session_user_id}});
        return fail(ErrorCode::permission_denied,
                    "This sign-in was started by another Mattermost user. Start again from your own account.");
    }
    log::warn("could not discard an abandoned sign-in", {{"error", taken.error().message}});
    return {};
}

Status Logins::disconnect(MmUserId const& mm_user_id) {
    MSTEAMS_TRY(accounts_->disconnect(mm_user_id));
    changed(mm_user_id);
    log::info("disconnected a Teams account", {{"user_id", mm_user_id}});
    notify_webapp(mm_user_id, false, "", "");
    return {};
}

Result<std::optional<store::Account>> Logins::account(MmUserId const& mm_user_id) {
    return accounts_->by_mm_user(mm_user_id);
}

Result<int> Logins::count_connected() { return accounts_->count_connected(); }

Result<std::vector<MmUserId>> Logins::connected_users(std::size_t limit) { return accounts_->connected_users(limit); }

std::string seal_token(crypto::Sealer const& sealer, graph::Token const& token, MmUserId const& mm_user_id) {
    json const payload{{"a", token.access_token}, {"r", token.refresh_token}, {"e", token.expires_at}};
    return sealer.seal(payload.dump(), mm_user_id.str());
}

std::string Logins::seal_token(graph::Token const& token, MmUserId const& mm_user_id) const {
    return sync::seal_token(*sealer_, token, mm_user_id);
}

Result<std::string> Logins::access_token(MmUserId const& mm_user_id) {
    std::optional<store::Account> account;
    MSTEAMS_TRY_ASSIGN(account, accounts_->by_mm_user(mm_user_id));
    if (!account || !account->connected()) {
        return fail(ErrorCode::not_found, "not connected to Microsoft Teams");
    }
    auto opened = sealer_->open(account->token_sealed, mm_user_id.str());
    if (!opened) {
        lose_connection(mm_user_id, "the stored token cannot be read (the encryption key changed)");
        return fail(ErrorCode::permission_denied, "the stored Teams token cannot be read");
    }
    auto const payload = json::parse(*opened, nullptr, false);
    if (!payload.is_object() || !payload.contains("a") || !payload.contains("r") || !payload.contains("e")) {
        lose_connection(mm_user_id, "the stored token is malformed");
        return fail(ErrorCode::permission_denied, "the stored Teams token is malformed");
    }
    graph::Token token{payload["a"].get<std::string>(), payload["r"].get<std::string>(),
                       payload["e"].get<std::int64_t>(), ""};
    if (token.expires_at - k_refresh_margin_ms > now_ms()) {
        record_activity(mm_user_id);
        return token.access_token;
    }
    auto refreshed = entra_->refresh(token.refresh_token);
    if (!refreshed) {
        if (refreshed.error().code == ErrorCode::permission_denied) {
            lose_connection(mm_user_id, refreshed.error().message);
        } else {
            record_health(mm_user_id, store::TokenHealth::refresh_failed);
        }
        return std::unexpected(refreshed.error());
    }
    if (refreshed->refresh_token.empty()) {
        refreshed->refresh_token = token.refresh_token;
    }
    MSTEAMS_TRY(accounts_->update_token(mm_user_id, seal_token(*refreshed, mm_user_id)));
    record_health(mm_user_id, store::TokenHealth::ok);
    record_activity(mm_user_id);
    return refreshed->access_token;
}

Result<graph::Me> Logins::whoami(MmUserId const& mm_user_id) {
    std::string token;
    MSTEAMS_TRY_ASSIGN(token, access_token(mm_user_id));
    auto me = entra_->me(token);
    if (!me && me.error().code == ErrorCode::unauthenticated) {
        lose_connection(mm_user_id, me.error().message);
    }
    return me;
}

void Logins::lose_connection(MmUserId const& mm_user_id, std::string const& why) {
    log::warn("a Teams connection was lost", {{"user_id", mm_user_id}, {"reason", why}});
    if (auto d = accounts_->disconnect(mm_user_id); !d) {
        log::error("could not record a lost connection", {{"user_id", mm_user_id}, {"error", d.error().message}});
    }
    record_health(mm_user_id, store::TokenHealth::needs_reconnect);
    changed(mm_user_id);
    notify_webapp(mm_user_id, false, "", "");
    if (settings_.bot_user_id.empty() || mm_user_id == settings_.bot_user_id) {
        return;
    }
    auto channel = api_->get_direct_channel(settings_.bot_user_id, mm_user_id);
    if (!channel) {
        log::error("could not open a DM to tell a user their connection was lost",
                   {{"user_id", mm_user_id}, {"error", channel.error().message}});
        return;
    }
    mm::Post post;
    post.user_id = settings_.bot_user_id;
    post.channel_id = channel->id;
    post.message =
        "Your Microsoft Teams connection has stopped working, so messages are no longer bridged for you. "
        "[Connect your account again](" +
        connect_url() + ") or run `/msteams connect`.";
    if (auto p = api_->create_post(post); !p) {
        log::error("could not tell a user their connection was lost",
                   {{"user_id", mm_user_id}, {"error", p.error().message}});
    }
}

void Logins::notify_webapp(MmUserId const& mm_user_id, bool connected, std::string const& name,
                           std::string const& email) {
    json const payload{{"connected", connected}, {"teams_display_name", name}, {"teams_email", email}};
    if (auto s = api_->publish_websocket_event("connection_changed", payload.dump(), mm::Broadcast{mm_user_id, {}, ""});
        !s) {
        log::warn("could not tell the webapp about a connection change", {{"error", s.error().message}});
    }
}

}  // namespace msteams::sync
