#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "common/clock.hpp"
#include "common/result.hpp"
#include "graph/client.hpp"
#include "metrics/counters.hpp"
#include "mm/api.hpp"
#include "store/accounts.hpp"
#include "store/repositories.hpp"

// People on both sides: which Mattermost user stands for a Teams user (a connected account, an existing Mattermost
// user with the same email, or a synthetic user the bridge creates), and the reverse for mentions.
namespace msteams::sync {

// What Graph says about a Teams user, as far as a Mattermost user needs it.
struct TeamsProfile {
    TeamsUserId id;
    std::string display_name;
    std::string email;  // mail, else userPrincipalName
    bool guest = false;
    std::string upn{};  // userPrincipalName ("" when not read)
};

// What the bridge keeps of a Teams user Graph listed or read.
[[nodiscard]] TeamsProfile profile_of(graph::GraphUser const& user);

// Reads a Teams user's profile (Graph, with the app token) when the caller has none.
using ProfileReader = std::function<Result<TeamsProfile>(std::string const& id_or_upn)>;
// The Teams users whose mail or userPrincipalName is an address (Graph, app token; a $filter on both).
using AddressFinder = std::function<Result<std::vector<TeamsProfile>>(std::string const& address)>;

// Which single sign-on a synthetic user gets so that the person it stands for can sign in to it and make it their own
// (syntheticUserAuthService, syntheticUserAuthData): /msteams promote sets it, and with
// automaticallyPromoteSyntheticUsers synthetic users carry it from the start, so that the person's SAML or AD/LDAP
// sign-in finds their synthetic user.
struct SyntheticAuth {
    enum class Data { id, mail, upn };
    std::string service = "saml";  // "saml" or "ldap"
    Data data = Data::id;
    bool automatic = false;  // automaticallyPromoteSyntheticUsers

    // The auth data for a Teams user: their id, mail (else UPN) or UPN (else mail); "" when unknown.
    [[nodiscard]] std::string data_for(TeamsUserId const& id, std::string const& email, std::string const& upn) const;
};

struct PeopleSettings {
    bool sync_guest_users = false;
    // Wall-clock milliseconds since the epoch: how long lookups are remembered (tests move it by hand).
    std::function<std::int64_t()> clock_ms;
    // Synthetic users are created with this sign-in when it is automatic (else with a password nobody knows).
    SyntheticAuth auth{};
    // Finds the Teams user for a Mattermost user's email by mail or UPN; without it, by UPN only (a GET by UPN).
    AddressFinder find_by_address{};
};

// A Mattermost username for a synthetic user: "msteams_" and a slug of the display name, within Mattermost's
// username rules (3–22 characters of a-z 0-9 . - _); `attempt` > 0 adds a suffix for collisions.
[[nodiscard]] std::string synthetic_username(std::string const& display_name, int attempt);

class People {
public:
    People(std::shared_ptr<mm::Api> api, store::Repositories repos, PeopleSettings settings, ProfileReader read_profile,
           std::shared_ptr<metrics::Counters> stats);

    // The Mattermost user for a Teams user, created as a synthetic user when there is none. `profile` may be
    // partial (id only): missing details are read from Graph. nullopt: nobody stands for this person in Mattermost
    // (a Teams guest while guests are not synced), which is not an error.
    [[nodiscard]] Result<std::optional<MmUserId>> mm_user_for(TeamsProfile const& given);
    // Without creating anyone: the Mattermost user id, when known.
    [[nodiscard]] Result<std::optional<MmUserId>> known_mm_user(TeamsUserId const& teams_user_id);
    // The connected Mattermost user for a Teams user, if connected (has a token).
    [[nodiscard]] Result<std::optional<MmUserId>> connected_mm_user(TeamsUserId const& teams_user_id);
    // Called after a synthetic user was created (e.g. to set their photo); set before the workers start.
    using Created = std::function<void(TeamsUserId const& teams_user_id, MmUserId const& mm_user_id)>;
    void on_synthetic_created(Created created) { created_ = std::move(created); }
    // For mentions: the username of the Mattermost user who stands for a Teams user (known users only).
    [[nodiscard]] std::optional<std::string> username_for(TeamsUserId const& teams_user_id);
    // The other way, for a Mattermost user who is not connected: the Teams user bridged before (msteams_users), or
    // the member of the tenant with the same email (read from Graph and remembered). nullopt when nobody in Teams
    // is this person, which is remembered for 10 minutes; bots and Teams guests are nobody.
    [[nodiscard]] Result<std::optional<TeamsUserId>> teams_user_for(MmUserId const& mm_user_id);

private:
    [[nodiscard]] Result<MmUserId> create_synthetic(TeamsProfile const& profile);
    // The Teams member whose mail (else UPN) is `address`; nullopt when none.
    [[nodiscard]] Result<std::optional<TeamsProfile>> find_by_address(std::string const& address);

    std::shared_ptr<mm::Api> api_;
    store::Repositories repos_;
    PeopleSettings settings_;
    ProfileReader read_profile_;
    std::shared_ptr<metrics::Counters> stats_;
    Created created_;
    std::mutex mutex_;  // one creation at a time (two workers meeting the same new Teams user)
    std::mutex cache_mutex_;
    struct Username {
        std::string username;
        std::int64_t read_at = 0;
    };
    [[nodiscard]] std::int64_t now() const { return settings_.clock_ms ? settings_.clock_ms() : now_ms(); }

    std::unordered_map<TeamsUserId, Username> usernames_;      // Teams user id → username, read when
    std::unordered_map<MmUserId, std::int64_t> not_in_teams_;  // Mattermost user id → when last looked for
};

}  // namespace msteams::sync
