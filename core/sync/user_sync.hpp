#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "graph/client.hpp"
#include "metrics/counters.hpp"
#include "mm/api.hpp"
#include "store/repositories.hpp"
#include "store/user_sync.hpp"
#include "sync/people.hpp"

// The user sync job (syncUsersInterval): the tenant's Teams people become synthetic Mattermost users before they ever
// write, so that Mattermost users can find them and write first, and synthetic users follow their Teams accounts.
//
// Run by the subscription leader (one node) as a periodic job. A run reads the tenant's users page by page (GET /users
// with $select, @odata.nextLink), then checks one by one the active synthetic users its listing did not have (GET
// /users/{id}: a 404 is a deleted account). Progress is in the database after every page and every few checks
// (msteams_user_sync): a run interrupted by a crash, a restart or a new leader goes on from the page it reached.
//
// For each Teams user of the listing:
// - a connected (or once connected) user, or one matched to an existing Mattermost user by email (or promoted):
//   theirs, left alone;
// - a synthetic user: deactivated while their Teams account is disabled (accountEnabled false) or they are a guest
//   and guests are not synced; reactivated when that ends (only the ones the bridge deactivated); their display name,
//   email and sign-in (see SyntheticAuth) kept as Teams says; made a member of the teams below;
// - anyone else: becomes a synthetic user (People::mm_user_for, which also matches an existing Mattermost user by
//   mail or UPN) when enabled, a member (guests only when they are synced) and in the allowed email domains.
// A synthetic user the listing did not have and Graph no longer knows is deactivated (deleted from the tenant).
//
// Teams: synthetic users are made members of the Mattermost teams that have a connected member (read each run from up
// to team_sources most recently connected users), so that those who write to Teams people through the bridge can
// reach them where direct messages are restricted to a team's members. The teams a user was added to are remembered:
// each team is joined once: an admin who removes a synthetic user from a team is not overruled.
//
// Bounded: a pass (one call of run_once) handles at most users_per_pass Teams users or pass_budget of time, whichever
// ends first, and a run makes at most max_changes_per_run changes in Mattermost (creations, updates, deactivations,
// reactivations); a run that reaches it ends there (logged) and the next one goes on, finding the earlier changes done.
namespace msteams::sync {

// One page of the tenant's users: `next_link` "" reads the first.
using DirectoryLister = std::function<Result<graph::UserPage>(std::string const& next_link)>;
// One Teams user by id; nullopt when Graph does not know them (404).
using DirectoryReader = std::function<Result<std::optional<graph::GraphUser>>(TeamsUserId const& id)>;

struct UserSyncSettings {
    std::chrono::seconds interval{0};  // a run starts this long after the previous one started; 0: off
    bool sync_guests = false;          // syncGuestUsers
    std::vector<std::string> domains;  // syncUsersDomains, lower case; empty: every domain
    std::int64_t max_changes_per_run = 5000;
    std::size_t page_size = 100;
    std::size_t users_per_pass = 1000;
    std::chrono::milliseconds pass_budget{20'000};
    std::size_t checks_per_pass = 100;
    std::size_t team_sources = 5000;
    SyntheticAuth auth;                      // what synthetic users' sign-in should be (automatic promotion)
    std::function<std::int64_t()> clock_ms;  // wall-clock ms (tests set it)
};

// Whether an email address is in one of the domains (lower case; empty: every address is).
[[nodiscard]] bool in_domains(std::string const& address, std::vector<std::string> const& domains);

class UserSync {
public:
    UserSync(UserSyncSettings settings, std::shared_ptr<mm::Api> api, store::Repositories repos,
             std::shared_ptr<store::UserSyncStore> progress, std::shared_ptr<People> people, DirectoryLister list,
             DirectoryReader read, std::shared_ptr<metrics::Counters> stats);

    // One pass: goes on with the run in progress, or starts one when the last started `interval` ago (or never ran).
    // An error leaves the progress where it was: the next pass does the same page again (what it did is idempotent).
    [[nodiscard]] Status run_once();

private:
    struct Pass;
    [[nodiscard]] std::int64_t now_ms() const;
    [[nodiscard]] Status listing(Pass& pass, store::UserSyncState& state);
    [[nodiscard]] Status sweeping(Pass& pass, store::UserSyncState& state);
    // Records `next` in place of `state` (false: another node moved the run on; this pass ends).
    [[nodiscard]] Result<bool> advance(store::UserSyncState& state, store::UserSyncState next);
    [[nodiscard]] Status finish(Pass& pass, store::UserSyncState& state, char const* why);
    [[nodiscard]] Status handle(Pass& pass, graph::GraphUser const& user, std::optional<store::TeamsUser> row,
                                bool has_account);
    [[nodiscard]] Status keep(Pass& pass, store::TeamsUser const& row, TeamsProfile const& profile);
    [[nodiscard]] Status deactivate(Pass& pass, store::TeamsUser const& row, char const* reason);
    [[nodiscard]] Status join_teams(Pass& pass, store::TeamsUser const& row);
    [[nodiscard]] Result<std::vector<std::string>> target_teams(std::int64_t run);
    // A Mattermost refusal for one user is logged, counted and passed over (true); Mattermost or the database out of
    // reach ends the pass (false: the caller returns the error, the page is done again).
    [[nodiscard]] bool pass_over(Error const& e, char const* what, TeamsUserId const& id);

    UserSyncSettings settings_;
    std::shared_ptr<mm::Api> api_;
    store::Repositories repos_;
    std::shared_ptr<store::UserSyncStore> progress_;
    std::shared_ptr<People> people_;
    DirectoryLister list_;
    DirectoryReader read_;
    std::shared_ptr<metrics::Counters> stats_;

    std::mutex mutex_;  // one pass at a time; guards what follows
    std::int64_t teams_run_ = -1;
    std::vector<std::string> teams_;  // target_teams() of run teams_run_
};

}  // namespace msteams::sync
