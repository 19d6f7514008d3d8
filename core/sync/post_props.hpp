#pragma once

// Props the bridge sets on Mattermost posts.
namespace msteams::sync {

// On every post the bridge creates from a Teams message: that message's id. After a crash between creating a post
// and committing its link, inbound finds the post again by it; outbound never sends such a post back to Teams.
inline constexpr char const* k_teams_message_prop = "msteams_message_id";

}  // namespace msteams::sync
