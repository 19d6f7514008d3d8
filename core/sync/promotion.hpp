#pragma once

#include <string>
#include <string_view>

#include "common/result.hpp"
#include "mm/api.hpp"
#include "store/repositories.hpp"
#include "sync/people.hpp"

// A synthetic user becomes the person's own Mattermost account, keeping its history and mappings (its posts, DMs,
// the message map all stay; msteams_users.synthetic turns false and promoted_at is set): by a system admin's
// `/msteams promote`, or, with automaticallyPromoteSyntheticUsers, when the person signs in through SAML or AD/LDAP
// with the identity of their Teams account.
namespace msteams::sync {

struct PromotionResult {
    mm::User user;  // as updated
    bool renamed = false;
};

// The peer_id of promote()'s error when Mattermost refused to update the user (its message says why).
inline constexpr std::string_view k_update_refused = "msteams.promote.update_refused";

// Promotes `user`, the synthetic user of `row`: the username becomes `new_username` (empty: kept), the sign-in
// `auth` (service and the row's data), the synthetic user's marker prop goes and Mattermost's default notifications
// come back (synthetic users have email, push and desktop notifications off). When Mattermost refuses the update the
// error's peer_id is k_update_refused; the row is marked only once the user is updated, so a failure can be tried
// again.
[[nodiscard]] Result<PromotionResult> promote(mm::Api& api, store::Users& users, mm::User user,
                                              store::TeamsUser const& row, SyntheticAuth const& auth,
                                              std::string const& new_username);

// What a sign-in means (UserHasLoggedIn): with automatic promotion on, a synthetic user who signed in with the
// configured single sign-on and the identity of their Teams account is promoted, and gets a username of their own
// (the local part of their email, when it is a valid username nobody has; else theirs stays). True when promoted.
// Anyone else: nothing happens.
[[nodiscard]] Result<bool> promote_on_sign_in(mm::Api& api, store::Users& users, SyntheticAuth const& auth,
                                              mm::User const& signed_in);

// A Mattermost username from an email's local part ("Alex.Wilber@x" → "alex.wilber"), or "" when it cannot be one.
[[nodiscard]] std::string username_from_email(std::string const& email);

}  // namespace msteams::sync
