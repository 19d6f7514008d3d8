#include "sync/people.hpp"

#include <cctype>

#include "common/clock.hpp"
#include "common/log.hpp"
#include "common/random.hpp"
#include "common/strings.hpp"
#include "graph/entra.hpp"

namespace msteams::sync {
namespace {

constexpr std::size_t k_max_username = 22;  // Mattermost's limit
constexpr char const* k_prefix = "msteams_";
constexpr std::int64_t k_not_in_teams_ttl_ms = 10 * 60'000;
// A username is read again after this long: an admin's promotion or a rename shows in mentions on every node.
constexpr std::int64_t k_username_ttl_ms = 5 * 60'000;

}  // namespace

TeamsProfile profile_of(graph::GraphUser const& user) {
    return TeamsProfile{user.id, user.display_name, user.mail.empty() ? user.user_principal_name : user.mail,
                        user.user_type == "Guest", user.user_principal_name};
}

std::string synthetic_username(std::string const& display_name, int attempt) {
    std::string slug;
    for (unsigned char c : display_name) {
        if (std::isalnum(c) != 0 && c < 0x80) {
            slug += static_cast<char>(std::tolower(c));
        } else if ((c == ' ' || c == '.' || c == '-' || c == '_') && !slug.empty() && slug.back() != '.') {
            slug += '.';
        }
    }
    while (!slug.empty() && slug.back() == '.') {
        slug.pop_back();
    }
    if (slug.empty()) {
        slug = "user";
    }
    std::string const suffix = attempt > 0 ? "-" + std::to_string(attempt + 1) : "";
    std::size_t const room = k_max_username - std::string_view(k_prefix).size() - suffix.size();
    if (slug.size() > room) {
        slug.resize(room);
        while (!slug.empty() && slug.back() == '.') {
            slug.pop_back();
        }
    }
    return k_prefix + slug + suffix;
}

std::string SyntheticAuth::data_for(TeamsUserId const& id, std::string const& email, std::string const& upn) const {
    switch (data) {
        case Data::id: return id.str();
        case Data::mail: return email;
        case Data::upn: return upn.empty() ? email : upn;
    }
    return id.str();
}

People::People(std::shared_ptr<mm::Api> api, store::Repositories repos, PeopleSettings settings,
               ProfileReader read_profile, std::shared_ptr<metrics::Counters> stats)
    : api_(std::move(api)),
      repos_(std::move(repos)),
      settings_(std::move(settings)),
      read_profile_(std::move(read_profile)),
      stats_(std::move(stats)) {}

Result<std::optional<MmUserId>> People::connected_mm_user(TeamsUserId const& teams_user_id) {
    std::optional<store::Account> account;
    MSTEAMS_TRY_ASSIGN(account, repos_.accounts->by_teams_user(teams_user_id));
    if (account && account->connected()) {
        return std::optional<MmUserId>(account->mm_user_id);
    }
    return std::optional<MmUserId>();
}

Result<std::optional<MmUserId>> People::known_mm_user(TeamsUserId const& teams_user_id) {
    std::optional<store::Account> account;
    MSTEAMS_TRY_ASSIGN(account, repos_.accounts->by_teams_user(teams_user_id));
    if (account) {
        // Connected or not: the link stays, so history stays attributed to the same person.
        return std::optional<MmUserId>(account->mm_user_id);
    }
    std::optional<store::TeamsUser> user;
    MSTEAMS_TRY_ASSIGN(user, repos_.users->by_teams_id(teams_user_id));
    if (user) {
        return std::optional<MmUserId>(user->mm_user_id);
    }
    return std::optional<MmUserId>();
}

Result<std::optional<MmUserId>> People::mm_user_for(TeamsProfile const& given) {
    std::optional<MmUserId> known;
    MSTEAMS_TRY_ASSIGN(known, known_mm_user(given.id));
    if (known) {
        return known;
    }
    std::unique_lock lock(mutex_);
    MSTEAMS_TRY_ASSIGN(known, known_mm_user(given.id));  // another worker may have just created them
    if (known) {
        return known;
    }
    TeamsProfile profile = given;
    if (profile.display_name.empty() || profile.email.empty()) {
        MSTEAMS_TRY_ASSIGN(profile, read_profile_(given.id.str()));
    }
    if (profile.guest && !settings_.sync_guest_users) {
        return std::optional<MmUserId>();  // Teams guests are not synced (syncGuestUsers is off)
    }
    // An existing Mattermost user with the same email is that person: their mail, or their UPN where it differs.
    for (auto const* address : {&profile.email, &profile.upn}) {
        if (address->empty() || (address == &profile.upn && strings::iequals(profile.upn, profile.email))) {
            continue;
        }
        if (auto existing = api_->get_user_by_email(*address); existing) {
            store::TeamsUser row{profile.id, existing->id, false, profile.display_name, profile.email, now_ms(), 0};
            row.upn = profile.upn;
            store::TeamsUser stored;
            MSTEAMS_TRY_ASSIGN(stored, repos_.users->add(row));
            log::info("matched a Teams user to a Mattermost user by email",
                      {{"teams_user_id", profile.id}, {"user_id", stored.mm_user_id}});
            return std::optional<MmUserId>(stored.mm_user_id);
        } else if (existing.error().code != ErrorCode::not_found && existing.error().http_status != 404) {
            return std::unexpected(existing.error());
        }
    }
    MmUserId made;
    MSTEAMS_TRY_ASSIGN(made, create_synthetic(profile));
    lock.unlock();  // what follows may wait for Graph; other workers need not wait for it
    if (created_) {
        created_(profile.id, made);
    }
    return std::optional<MmUserId>(made);
}

Result<MmUserId> People::create_synthetic(TeamsProfile const& profile) {
    mm::User user;
    user.email = profile.email.empty() ? profile.id.str() + "@msteams.invalid" : profile.email;
    user.email_verified = true;
    user.first_name = profile.display_name;
    user.nickname = profile.display_name;
    // Shown in the profile card and the DM header: this person is on Microsoft Teams.
    user.position = "Microsoft Teams";
    user.props["msteams_user_id"] = profile.id.str();
    // The address is the real person's, who reads their messages in Teams: no emails from Mattermost.
    user.notify_props = {{"email", "false"}, {"push", "none"}, {"desktop", "none"}};
    // With automatic promotion, the single sign-on the person will use, so that their sign-in finds this user (which
    // then becomes theirs, see Promotion); otherwise a password nobody knows, meeting any password policy: synthetic
    // users cannot log in until promoted.
    std::string password;
    if (settings_.auth.automatic) {
        user.auth_data = settings_.auth.data_for(profile.id, profile.email, profile.upn);
        user.auth_service = user.auth_data.empty() ? std::string() : settings_.auth.service;
    }
    if (user.auth_service.empty()) {
        password = "Aa1!" + random::token(40);
    }
    Error last;
    for (int attempt = 0; attempt < 20; ++attempt) {
        user.username = synthetic_username(profile.display_name, attempt);
        auto created = api_->create_user(user, password);
        if (!created && !user.auth_service.empty() && created.error().peer_id.find("username") == std::string::npos) {
            // The sign-in's data is taken (another Mattermost user has it) or refused: a user nobody can sign in to
            // stands for the person meanwhile; an admin can still promote it.
            log::warn("could not create a synthetic user with single sign-on; creating it without",
                      {{"teams_user_id", profile.id}, {"error", created.error().message}});
            user.auth_service.clear();
            user.auth_data.clear();
            password = "Aa1!" + random::token(40);
            created = api_->create_user(user, password);
        }
        if (created) {
            store::TeamsUser row{profile.id, created->id, true, profile.display_name, profile.email, now_ms(), 0};
            row.upn = profile.upn;
            store::TeamsUser stored;
            MSTEAMS_TRY_ASSIGN(stored, repos_.users->add(row));
            ++stats_->synthetic_users_created;
            log::info("created a synthetic user for a Teams user",
                      {{"teams_user_id", profile.id}, {"user_id", created->id}, {"username", user.username}});
            return stored.mm_user_id;
        }
        last = created.error();
        // A taken (or refused) username is answered with an AppError whose id names the username
        // (app.user.save.username_exists.app_error); anything else is final.
        if (last.peer_id.find("username") == std::string::npos) {
            break;
        }
    }
    return fail(last.code == ErrorCode::internal ? ErrorCode::unavailable : last.code,
                "Could not create a Mattermost user for Teams user " + profile.id.str() + ": " + last.message);
}

std::optional<std::string> People::username_for(TeamsUserId const& teams_user_id) {
    auto const at = now();
    {
        std::lock_guard lock(cache_mutex_);
        if (auto it = usernames_.find(teams_user_id);
            it != usernames_.end() && at - it->second.read_at < k_username_ttl_ms) {
            return it->second.username;
        }
    }
    auto const known = known_mm_user(teams_user_id);
    if (!known || !*known) {
        return std::nullopt;
    }
    auto const user = api_->get_user(**known);
    if (!user) {
        return std::nullopt;
    }
    std::lock_guard lock(cache_mutex_);
    if (usernames_.size() > 50'000) {
        usernames_.clear();
    }
    usernames_[teams_user_id] = Username{user->username, at};
    return user->username;
}

Result<std::optional<TeamsUserId>> People::teams_user_for(MmUserId const& mm_user_id) {
    std::optional<store::TeamsUser> user;
    MSTEAMS_TRY_ASSIGN(user, repos_.users->by_mm_id(mm_user_id));
    if (user) {
        return std::optional<TeamsUserId>(user->teams_user_id);
    }
    auto const now = this->now();
    {
        std::lock_guard lock(cache_mutex_);
        if (auto it = not_in_teams_.find(mm_user_id);
            it != not_in_teams_.end() && now - it->second < k_not_in_teams_ttl_ms) {
            return std::optional<TeamsUserId>();
        }
    }
    // Someone who never connected may still be in Teams: the same email is the same person, as for connecting. The
    // email may be the Teams user's mail or their user principal name, which differ in many tenants.
    mm::User mm_user;
    MSTEAMS_TRY_ASSIGN(mm_user, api_->get_user(mm_user_id));
    std::optional<TeamsProfile> found;
    if (!mm_user.is_bot && !mm_user.email.empty()) {
        MSTEAMS_TRY_ASSIGN(found, find_by_address(mm_user.email));
    }
    if (!found) {
        std::lock_guard lock(cache_mutex_);
        if (not_in_teams_.size() > 100'000) {
            not_in_teams_.clear();
        }
        not_in_teams_[mm_user_id] = now;
        return std::optional<TeamsUserId>();
    }
    store::TeamsUser row{found->id, mm_user_id, false, found->display_name, found->email, now, 0};
    row.upn = found->upn;
    store::TeamsUser stored;
    MSTEAMS_TRY_ASSIGN(stored, repos_.users->add(row));
    return std::optional<TeamsUserId>(stored.teams_user_id);
}

Result<std::optional<TeamsProfile>> People::find_by_address(std::string const& address) {
    // Members only: guests are nobody here. A user whose mail is the address wins over one whose UPN is.
    auto const pick = [&](std::vector<TeamsProfile> const& candidates) -> std::optional<TeamsProfile> {
        for (bool by_mail : {true, false}) {
            for (auto const& c : candidates) {
                auto const& value = by_mail ? c.email : c.upn;
                if (!c.guest && !value.empty() && strings::iequals(value, address)) {
                    return c;
                }
            }
        }
        return std::nullopt;
    };
    if (settings_.find_by_address) {
        std::vector<TeamsProfile> candidates;
        MSTEAMS_TRY_ASSIGN(candidates, settings_.find_by_address(address));
        return pick(candidates);
    }
    // Graph reads a user by user principal name only.
    auto profile = read_profile_(address);
    if (!profile) {
        if (profile.error().code == ErrorCode::not_found) {
            return std::optional<TeamsProfile>();
        }
        return std::unexpected(profile.error());
    }
    return pick({*profile});
}

}  // namespace msteams::sync
