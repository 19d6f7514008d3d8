#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/ids.hpp"
#include "common/result.hpp"
#include "store/database.hpp"
#include "store/records.hpp"

// Rollout controls and per-user choices (migration 012): each user's primary platform and notifications-only mode
// (msteams_user_choices), the invite pool (msteams_invites), and the health and last activity of each connection
// (columns of msteams_accounts) for the connected-users report.
namespace msteams::store {

// Where a connected user reads their chats: selective sync bridges a chat only when someone in it reads it in
// Mattermost.
enum class Platform { mattermost, teams };
// A connection as the report shows it: working; the last token refresh failed for a reason that may pass; or lost
// (Microsoft refused the token, the user was told to connect again).
enum class TokenHealth { ok, refresh_failed, needs_reconnect };

template <>
struct Names<Platform> {
    static constexpr std::array<std::string_view, 2> words{"mattermost", "teams"};
};
template <>
struct Names<TokenHealth> {
    static constexpr std::array<std::string_view, 3> words{"ok", "refresh_failed", "needs_reconnect"};
};

// A user's choices; a user without a stored row has these defaults.
struct UserChoice {
    MmUserId mm_user_id;
    Platform primary = Platform::mattermost;
    bool notifications = false;
    std::int64_t updated_at = 0;  // Unix ms
};

enum class InviteOutcome { invited, already_invited, pool_full };

// One line of the connected-users report: a connected account, or one whose connection was lost.
struct ReportRow {
    MmUserId mm_user_id;
    TeamsUserId teams_user_id;
    std::string teams_email;
    std::string teams_display_name;
    std::int64_t connected_at = 0;    // Unix ms
    std::int64_t last_active_at = 0;  // Unix ms; 0: never since the report existed
    bool connected = false;
    TokenHealth health = TokenHealth::ok;
};

class Roster {
public:
    virtual ~Roster() = default;
    // The stored choices of these users, in one query (users with the defaults are left out).
    [[nodiscard]] virtual Result<std::vector<UserChoice>> choices(std::vector<MmUserId> const& mm_user_ids) = 0;
    [[nodiscard]] virtual Status set_primary(MmUserId const& mm_user_id, Platform primary, std::int64_t now_ms) = 0;
    [[nodiscard]] virtual Status set_notifications(MmUserId const& mm_user_id, bool on, std::int64_t now_ms) = 0;

    // Invites a user to connect while fewer than `pool_size` are invited (the count and the insert are one step).
    [[nodiscard]] virtual Result<InviteOutcome> invite(MmUserId const& mm_user_id, MmUserId const& by,
                                                       std::int64_t pool_size, std::int64_t now_ms) = 0;
    // False when the user was not invited.
    [[nodiscard]] virtual Result<bool> uninvite(MmUserId const& mm_user_id) = 0;
    [[nodiscard]] virtual Result<bool> invited(MmUserId const& mm_user_id) = 0;
    [[nodiscard]] virtual Result<std::int64_t> invite_count() = 0;

    // The bridge acted for the user at `at_ms` (their token was used): recorded when the last record is older than
    // `min_gap_ms`, so a busy user costs one write per gap, not one per message.
    [[nodiscard]] virtual Status touch(MmUserId const& mm_user_id, std::int64_t at_ms, std::int64_t min_gap_ms) = 0;
    [[nodiscard]] virtual Status set_health(MmUserId const& mm_user_id, TokenHealth health) = 0;
    // Up to `limit` accounts that are connected or need reconnecting, by Mattermost user id after `after` (empty:
    // from the first): the next page starts after the last one returned.
    [[nodiscard]] virtual Result<std::vector<ReportRow>> report_page(MmUserId const& after, std::size_t limit) = 0;
};

[[nodiscard]] std::shared_ptr<Roster> postgres_roster(std::shared_ptr<Database> db);

}  // namespace msteams::store
