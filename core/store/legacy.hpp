#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/ids.hpp"
#include "common/result.hpp"
#include "store/accounts.hpp"
#include "store/database.hpp"
#include "store/records.hpp"

// The official Mattermost MS Teams plugin's tables (msteamssync_users, msteamssync_links, msteamssync_posts), read to
// import what they hold into the bridge's own tables, and the import's progress (msteams_legacy_import). The old
// tables are only read. Their shapes, version by version, are in docs/upgrade.md.
namespace msteams::store {

// Which of the official plugin's tables exist, and the optional columns of later versions.
struct LegacyTables {
    bool users = false;
    bool links = false;
    bool posts = false;
    bool users_last_connect_at = false;  // msteamssync_users.lastconnectat (v1.12 and later)
    [[nodiscard]] bool any() const noexcept { return users || links || posts; }
};

// One step of the import as msteams_legacy_import has it.
struct LegacyProgress {
    LegacyStep step = LegacyStep::settings;
    std::string after_key;
    bool done = false;
    std::int64_t imported = 0;
    std::int64_t skipped = 0;
    std::int64_t failed = 0;
    std::string note;
    std::int64_t started_at = 0;   // Unix ms
    std::int64_t finished_at = 0;  // Unix ms; 0 while not done
};

// One Mattermost user of msteamssync_users (the row with a token first when there are several), with what the
// Mattermost Users table knows of them.
struct LegacyUser {
    MmUserId mm_user_id;
    TeamsUserId teams_user_id;
    std::string token;                 // the official plugin's sealed token; "" when not connected
    std::int64_t last_connect_at = 0;  // Unix ms; 0 when unknown
    bool mm_user_exists = false;
    std::string email;  // the Mattermost user's
};

// What one batch did.
struct LegacyBatch {
    std::int64_t read = 0;  // source rows (users: Mattermost users) read; 0: the step is done
    std::int64_t imported = 0;
    std::int64_t skipped = 0;
    std::int64_t failed = 0;
    std::string last_key;  // the new cursor
};

// A token that could not be imported, for the report.
struct LegacyProblem {
    std::string source_key;
    std::string problem;
    std::string username{};  // read back: the Mattermost user's, when the key is a user id
};

class LegacyImportStore {
public:
    explicit LegacyImportStore(std::shared_ptr<Database> db) : db_(std::move(db)) {}

    [[nodiscard]] Result<LegacyTables> tables();
    // Every step's row, in step order (none before the import started).
    [[nodiscard]] Result<std::vector<LegacyProgress>> progress();
    // Creates the step's row if it has none (started at `now_ms`, with `note`).
    [[nodiscard]] Status begin(LegacyStep step, std::int64_t now_ms, std::string const& note = {});
    // Marks the step done (idempotent).
    [[nodiscard]] Status finish(LegacyStep step, std::int64_t now_ms);

    // The next `limit` Mattermost users of msteamssync_users after `after` (by user id).
    [[nodiscard]] Result<std::vector<LegacyUser>> users_after(std::string const& after, std::size_t limit,
                                                              bool with_last_connect_at);

    // Each batch below runs in one transaction that also moves the step's cursor from `after` to the batch's last
    // key and adds its counts: a crash loses the whole batch or nothing. conflict when the step's cursor is no longer
    // `after` (another node moved it) or the step is done.

    // Connected users whose tokens were read and sealed again by the caller (rows already there are kept); `read` and
    // `last_key` are the caller's; `failed` and `problems` are the tokens it could not read.
    [[nodiscard]] Result<LegacyBatch> put_accounts(std::string const& after, LegacyBatch batch,
                                                   std::vector<Account> const& accounts,
                                                   std::vector<LegacyProblem> const& problems);
    // Teams users of msteamssync_users without a connected account here → msteams_users.
    [[nodiscard]] Result<LegacyBatch> import_users(std::string const& after, std::size_t limit, std::int64_t now_ms);
    // msteamssync_links → channel portals.
    [[nodiscard]] Result<LegacyBatch> import_links(std::string const& after, std::size_t limit, std::int64_t now_ms);
    // msteamssync_posts → msteams_messages.
    [[nodiscard]] Result<LegacyBatch> import_messages(std::string const& after, std::size_t limit);

    [[nodiscard]] Result<std::vector<LegacyProblem>> problems(LegacyStep step, std::size_t limit);

private:
    std::shared_ptr<Database> db_;
};

}  // namespace msteams::store
