#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "mm/api.hpp"
#include "store/roster.hpp"

// Who may connect a Teams account (rollout controls): everyone, or, once restricted, the Mattermost users on the
// allow list (connectAllowList: usernames, and names of user groups whose members may connect) and those a system admin
// invited (`/msteams invite`, at most invitePoolSize). The maximum number of connected users applies on top. A user
// connected already stays connected when the rules change.
namespace msteams::sync {

struct AdmissionSettings {
    std::vector<std::string> allowed_names{};  // usernames and group names, lower case, without "@"
    std::int64_t invite_pool = 0;              // 0: no invite pool
};

class Admission {
public:
    Admission(AdmissionSettings settings, std::shared_ptr<mm::Api> api, std::shared_ptr<store::Roster> roster);

    [[nodiscard]] bool restricted() const noexcept {
        return !settings_.allowed_names.empty() || settings_.invite_pool > 0;
    }
    [[nodiscard]] AdmissionSettings const& settings() const noexcept { return settings_; }

    // nullopt when the user may connect; otherwise what to tell them.
    [[nodiscard]] Result<std::optional<std::string>> refusal(MmUserId const& mm_user_id);

private:
    // Whether the user is on the allow list by username or through one of their groups.
    [[nodiscard]] Result<bool> on_allow_list(MmUserId const& mm_user_id);

    AdmissionSettings settings_;
    std::shared_ptr<mm::Api> api_;
    std::shared_ptr<store::Roster> roster_;
};

// The allow list as an admin types it ("@alice, bob  @developers"): usernames and group names, lower case, without
// "@", duplicates dropped.
[[nodiscard]] std::vector<std::string> parse_allow_list(std::string const& text);

}  // namespace msteams::sync
