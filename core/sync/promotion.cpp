#include "sync/promotion.hpp"

#include <cctype>

#include "common/clock.hpp"
#include "common/log.hpp"
#include "common/strings.hpp"

namespace msteams::sync {

std::string username_from_email(std::string const& email) {
    auto const at = email.find('@');
    std::string name;
    for (char c : email.substr(0, at)) {
        auto const u = static_cast<unsigned char>(c);
        if (u >= 0x80) {
            return {};
        }
        char const l = static_cast<char>(std::tolower(u));
        bool const ok = (l >= 'a' && l <= 'z') || (l >= '0' && l <= '9') || l == '.' || l == '-' || l == '_';
        if (!ok) {
            return {};
        }
        name += l;
    }
    // Mattermost's rules: 3 to 22 characters, starting with a letter; msteams_ names are the bridge's own.
    if (name.size() < 3 || name.size() > 22 || name.front() < 'a' || name.front() > 'z' ||
        name.starts_with("msteams_")) {
        return {};
    }
    return name;
}

Result<PromotionResult> promote(mm::Api& api, store::Users& users, mm::User user, store::TeamsUser const& row,
                                SyntheticAuth const& auth, std::string const& new_username) {
    PromotionResult out;
    if (!new_username.empty() && new_username != user.username) {
        user.username = new_username;
        out.renamed = true;
    }
    user.props.erase("msteams_user_id");
    user.auth_service = auth.service;
    user.auth_data = auth.data_for(row.teams_user_id, row.email, row.upn);
    // Mattermost's defaults: the person reads their messages here from now on.
    user.notify_props = {{"email", "true"}, {"push", "mention"}, {"desktop", "mention"}};
    auto updated = api.update_user(user);
    if (!updated) {
        Error e{ErrorCode::unavailable,
                "Could not update @" + user.username + ": " + updated.error().message,
                updated.error().http_status,
                {}};
        e.peer_id = std::string(k_update_refused);
        return std::unexpected(std::move(e));
    }
    MSTEAMS_TRY(users.mark_promoted(user.id, now_ms()));
    out.user = std::move(*updated);
    return out;
}

Result<bool> promote_on_sign_in(mm::Api& api, store::Users& users, SyntheticAuth const& auth,
                                mm::User const& signed_in) {
    if (!auth.automatic || signed_in.id.empty() || signed_in.auth_service.empty()) {
        return false;
    }
    std::optional<store::TeamsUser> row;
    MSTEAMS_TRY_ASSIGN(row, users.by_mm_id(signed_in.id));
    if (!row || !row->synthetic) {
        return false;  // a normal user, or promoted already
    }
    auto const expected = auth.data_for(row->teams_user_id, row->email, row->upn);
    // Mattermost compares auth data as stored; addresses are compared as the identity providers do, without case.
    bool const same_data = auth.data == SyntheticAuth::Data::id ? signed_in.auth_data == expected
                                                                : strings::iequals(signed_in.auth_data, expected);
    if (signed_in.auth_service != auth.service || expected.empty() || !same_data) {
        log::info("a synthetic user signed in without the identity of their Teams account; not promoted",
                  {{"user_id", signed_in.id}, {"auth_service", signed_in.auth_service}});
        return false;
    }
    // Fresh: the hook's copy may predate a change, and the update replaces what it carries.
    mm::User current;
    MSTEAMS_TRY_ASSIGN(current, api.get_user(signed_in.id));
    std::string username = username_from_email(row->email);
    if (!username.empty() && username != current.username) {
        if (auto taken = api.get_user_by_username(username); taken) {
            username.clear();  // someone has it: the synthetic username stays
        } else if (taken.error().code != ErrorCode::not_found && taken.error().http_status != 404) {
            return std::unexpected(taken.error());
        }
    }
    PromotionResult promoted;
    MSTEAMS_TRY_ASSIGN(promoted, promote(api, users, std::move(current), *row, auth, username));
    log::info("promoted a synthetic user at their single sign-on: the account is theirs now",
              {{"user_id", signed_in.id},
               {"teams_user_id", row->teams_user_id},
               {"username", promoted.user.username},
               {"auth_service", auth.service}});
    return true;
}

}  // namespace msteams::sync
