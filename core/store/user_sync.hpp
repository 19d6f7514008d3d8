#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/ids.hpp"
#include "common/result.hpp"
#include "store/database.hpp"
#include "store/records.hpp"

namespace msteams::store {

// Where the user sync job is (msteams_user_sync, one row; migration 013). A run reads the tenant's users page by page
// (listing), then checks the synthetic users the listing did not have (sweeping), then is done until the next one.
struct UserSyncState {
    std::int64_t run = 0;  // 0: never ran
    UserSyncPhase phase = UserSyncPhase::done;
    std::string next_link;  // listing: the page to read next ("" = the first)
    TeamsUserId sweep_after;
    std::int64_t started_at = 0;   // Unix ms
    std::int64_t finished_at = 0;  // Unix ms; 0 while running
    std::int64_t listed = 0;
    std::int64_t changes = 0;
};

// The user sync job's tables: its progress, and what it keeps per Teams user in msteams_users. Every write of the
// progress names the state it read, so that of two nodes that both believe they lead (a lease that ran out while a
// pass was running) only one moves it on.
class UserSyncStore {
public:
    explicit UserSyncStore(std::shared_ptr<Database> db);

    // The progress; run 0 when the job never ran.
    [[nodiscard]] Result<UserSyncState> state();
    // Starts run `previous.run + 1` at `now_ms`, unless the progress is no longer `previous`; true when started.
    [[nodiscard]] Result<bool> start(UserSyncState const& previous, std::int64_t now_ms);
    // Records `next` in place of `previous`; false (nothing written) when the progress is no longer `previous`.
    [[nodiscard]] Result<bool> advance(UserSyncState const& previous, UserSyncState const& next);

    // The msteams_users rows of these Teams users.
    [[nodiscard]] Result<std::vector<TeamsUser>> users(std::vector<TeamsUserId> const& ids);
    // Which of these Teams users have an account (connected or not: the person's own Mattermost user stands for them).
    [[nodiscard]] Result<std::vector<TeamsUserId>> with_account(std::vector<TeamsUserId> const& ids);
    // These Teams users (those with a row) were in run `run`'s listing.
    [[nodiscard]] Status mark_seen(std::vector<TeamsUserId> const& ids, std::int64_t run);
    // Active synthetic users run `run`'s listing did not have, by Teams user id after `after`, at most `limit`.
    [[nodiscard]] Result<std::vector<TeamsUser>> unseen_synthetic(std::int64_t run, TeamsUserId const& after,
                                                                  std::size_t limit);
    // The bridge deactivated the synthetic user at `at_ms`, or (0) reactivated it.
    [[nodiscard]] Status set_deactivated(TeamsUserId const& id, std::int64_t at_ms);
    // What Teams says of the person now.
    [[nodiscard]] Status set_profile(TeamsUserId const& id, std::string const& display_name, std::string const& email,
                                     std::string const& upn);
    // The teams the bridge made the synthetic user a member of (sorted).
    [[nodiscard]] Status set_team_ids(TeamsUserId const& id, std::vector<std::string> const& team_ids);

private:
    std::shared_ptr<Database> db_;
};

}  // namespace msteams::store
