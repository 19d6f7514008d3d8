#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/ids.hpp"
#include "common/result.hpp"
#include "store/database.hpp"

namespace msteams::store {

// A synthetic user (a Teams person the bridge created a Mattermost user for) whose profile the bridge keeps in step
// with Teams: photo and presence (table msteams_users, migration 005).
struct SyntheticProfile {
    TeamsUserId teams_user_id;
    MmUserId mm_user_id;
    std::int64_t photo_checked_at = 0;  // Unix ms; 0: never
    std::string photo_digest;           // SHA-256 hex of the photo set as avatar; "": none
};

class Profiles {
public:
    explicit Profiles(std::shared_ptr<Database> db);

    // Active synthetic users (the ones the bridge deactivated are left alone) by Teams user id, the first `limit` after
    // `after` ("" = from the start): a pass over everyone in pages.
    [[nodiscard]] Result<std::vector<SyntheticProfile>> synthetic_after(TeamsUserId const& after, std::size_t limit);
    // Active synthetic users whose photo was last read before `before` (never read first), at most `limit`.
    [[nodiscard]] Result<std::vector<SyntheticProfile>> photos_due(std::int64_t before, std::size_t limit);
    // The photo was read at `at`; `digest` is what is now set ("" for none).
    [[nodiscard]] Status photo_checked(TeamsUserId const& teams_user_id, std::int64_t at, std::string const& digest);

private:
    std::shared_ptr<Database> db_;
};

}  // namespace msteams::store
