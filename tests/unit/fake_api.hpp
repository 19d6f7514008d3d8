#pragma once

#include <algorithm>
#include <cstddef>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "app/config.hpp"
#include "mm/api.hpp"

namespace msteams::test {

// Records what the core asks of Mattermost; answers from its fields.
class FakeApi : public mm::Api {
public:
    void log(log::Level, std::string_view message, log::Fields const&) noexcept override {
        std::lock_guard lock(mutex);
        logs.emplace_back(message);
    }
    Status save_plugin_config(std::string const& settings_json) override {
        std::lock_guard lock(mutex);
        saved_configs.push_back(settings_json);
        return {};
    }
    Status register_command(mm::Command const& command) override {
        std::lock_guard lock(mutex);
        commands.push_back(command);
        return {};
    }
    Status unregister_command(std::string const&, std::string const&) override { return {}; }
    Result<MmUserId> ensure_bot(mm::Bot const& bot) override {
        std::lock_guard lock(mutex);
        bots.push_back(bot);
        if (fail_bot) {
            return fail(ErrorCode::internal, "bot creation failed");
        }
        return MmUserId("botuserid00000000000000000");
    }
    Result<mm::User> get_user(MmUserId const& id) override {
        std::lock_guard lock(mutex);
        if (!users.contains(id.str())) {
            return fail(ErrorCode::not_found, "no user", 404);
        }
        auto u = users[id.str()];
        u.deactivated = inactive.contains(id.str());
        return u;
    }
    Result<mm::User> get_user_by_email(std::string const& email) override {
        std::lock_guard lock(mutex);
        for (auto const& [id, u] : users) {
            if (!email.empty() && u.email == email) {
                auto out = u;
                out.deactivated = inactive.contains(id);
                return out;
            }
        }
        return fail(ErrorCode::not_found, "no user", 404);
    }
    Result<mm::User> get_user_by_username(std::string const& username) override {
        std::lock_guard lock(mutex);
        for (auto const& [id, u] : users) {
            if (!username.empty() && u.username == username) {
                return u;
            }
        }
        return fail(ErrorCode::not_found, "no user", 404);
    }
    Result<bool> has_permission_to(MmUserId const& user_id, std::string const& permission) override {
        return permission == "manage_system" && admins.contains(user_id.str());
    }
    // Channel admins: "<user id>:<channel id>" pairs (system admins hold every channel permission).
    Result<bool> has_permission_to_channel(MmUserId const& user_id, MmChannelId const& channel_id,
                                           std::string const&) override {
        return admins.contains(user_id.str()) || channel_admins.contains(user_id.str() + ":" + channel_id.str());
    }
    Result<mm::Channel> get_channel(MmChannelId const&) override { return fail(ErrorCode::not_found, "no channel"); }
    Result<mm::Channel> get_direct_channel(MmUserId const&, MmUserId const&) override {
        return fail(ErrorCode::not_found, "no channel");
    }
    Result<std::vector<MmUserId>> get_active_user_ids_in_role(std::string const& role) override {
        if (role != "system_admin") {
            return std::vector<MmUserId>{};
        }
        std::vector<MmUserId> out;
        for (auto const& a : admins) {
            out.emplace_back(a);
        }
        return out;
    }
    Result<mm::Post> create_post(mm::Post const& post) override {
        std::lock_guard lock(mutex);
        mm::Post p = post;
        if (p.id.empty()) {
            p.id = MmPostId(next_id("post"));
        }
        // Like Mattermost: a creation time given is kept; else the server's clock (fixed when a test froze it).
        if (p.create_at == 0) {
            p.create_at = frozen_clock != 0 ? frozen_clock : ++clock;
        }
        p.update_at = p.create_at;
        posts[p.id.str()] = p;
        post_order.push_back(p.id.str());
        return p;
    }
    Result<mm::User> create_user(mm::User const& user, std::string const&) override {
        std::lock_guard lock(mutex);
        for (auto const& [id, u] : users) {
            if (u.username == user.username) {
                Error taken{ErrorCode::invalid_argument, "An account with that username already exists.", 400, {}};
                taken.peer_id = "app.user.save.username_exists.app_error";
                return std::unexpected(taken);
            }
        }
        mm::User u = user;
        u.id = MmUserId(next_id("user"));
        users[u.id.str()] = u;
        return u;
    }
    Result<mm::User> update_user(mm::User const& user) override {
        std::lock_guard lock(mutex);
        if (!users.contains(user.id.str())) {
            return fail(ErrorCode::not_found, "no user", 404);
        }
        auto notify = users[user.id.str()].notify_props;  // the settings named change, the others stay
        for (auto const& [k, v] : user.notify_props) {
            notify[k] = v;
        }
        users[user.id.str()] = user;
        users[user.id.str()].notify_props = notify;
        ++user_updates;
        return users[user.id.str()];
    }
    Status update_user_active(MmUserId const& user_id, bool active) override {
        std::lock_guard lock(mutex);
        if (!users.contains(user_id.str())) {
            return fail(ErrorCode::not_found, "no user", 404);
        }
        if (active) {
            inactive.erase(user_id.str());
        } else {
            inactive.insert(user_id.str());
        }
        return {};
    }
    Result<mm::Session> create_session(MmUserId const& user_id,
                                       std::map<std::string, std::string> const& props) override {
        std::lock_guard lock(mutex);
        auto const it = users.find(user_id.str());
        if (it == users.end()) {
            return fail(ErrorCode::not_found, "no user", 404);
        }
        if (inactive.contains(user_id.str()) || it->second.is_bot) {
            return fail(ErrorCode::permission_denied, "This account cannot sign in.", 403);
        }
        mm::Session s{"session-token-" + std::to_string(sessions.size() + 1), user_id,
                      "csrf-" + std::to_string(sessions.size() + 1), 4'000'000'000'000, "/"};
        sessions.push_back({s, props});
        return s;
    }
    Result<std::vector<std::string>> get_group_names_for_user(MmUserId const& user_id) override {
        std::lock_guard lock(mutex);
        std::vector<std::string> out;
        for (auto const& [group, members] : group_members) {
            if (members.contains(user_id.str())) {
                out.push_back(group);
            }
        }
        return out;
    }
    Result<std::vector<std::string>> get_team_ids_for_user(MmUserId const& user_id) override {
        std::lock_guard lock(mutex);
        std::vector<std::string> out;
        for (auto const& [team, members] : team_members) {
            if (members.contains(user_id.str())) {
                out.push_back(team);
            }
        }
        return out;
    }
    Status add_team_member(std::string const& team_id, MmUserId const& user_id) override {
        std::lock_guard lock(mutex);
        if (refused_teams.contains(team_id)) {
            return fail(ErrorCode::invalid_argument, "the team does not take this user", 400);
        }
        team_members[team_id].insert(user_id.str());
        ++team_additions;
        return {};
    }
    Status update_preference(MmUserId const& user_id, std::string const& category, std::string const& name,
                             std::string const& value) override {
        std::lock_guard lock(mutex);
        preferences[user_id.str() + "/" + category + "/" + name] = value;
        return {};
    }
    Status set_profile_image(MmUserId const& user_id, std::string const& image) override {
        std::lock_guard lock(mutex);
        if (users.count(user_id.str()) == 0) {
            return fail(ErrorCode::not_found, "no user", 404);
        }
        profile_images[user_id.str()] = image;
        return {};
    }
    Status update_user_status(MmUserId const& user_id, std::string const& status) override {
        std::lock_guard lock(mutex);
        statuses[user_id.str()] = status;
        ++status_updates;
        return {};
    }
    Result<mm::Channel> get_group_channel(std::vector<MmUserId> const& user_ids) override {
        std::lock_guard lock(mutex);
        auto sorted = user_ids;
        std::sort(sorted.begin(), sorted.end());
        std::string key;
        for (auto const& id : sorted) {
            key += id.str() + ",";
        }
        auto& ch = group_channels[key];
        if (ch.id.empty()) {
            ch.id = MmChannelId(next_id("gm"));
            ch.type = "G";
            for (auto const& id : sorted) {
                channel_members[ch.id.str()].push_back(id.str());
            }
        }
        return ch;
    }
    Result<std::vector<MmUserId>> get_channel_member_ids(MmChannelId const& channel_id, int page,
                                                         int per_page) override {
        std::lock_guard lock(mutex);
        auto const& all = channel_members[channel_id.str()];
        std::vector<MmUserId> out;
        for (std::size_t i = static_cast<std::size_t>(page * per_page);
             i < all.size() && out.size() < static_cast<std::size_t>(per_page); ++i) {
            out.emplace_back(all[i]);
        }
        return out;
    }
    Result<mm::Post> get_post(MmPostId const& id) override {
        std::lock_guard lock(mutex);
        if (!posts.contains(id.str())) {
            return fail(ErrorCode::not_found, "no post", 404);
        }
        return posts[id.str()];
    }
    Result<mm::Post> update_post(mm::Post const& post) override {
        std::lock_guard lock(mutex);
        if (!posts.contains(post.id.str())) {
            return fail(ErrorCode::not_found, "no post", 404);
        }
        auto& p = posts[post.id.str()];
        p.message = post.message;
        p.props_json = post.props_json;
        p.file_ids = post.file_ids;
        p.update_at = ++clock;
        return p;
    }
    Status delete_post(MmPostId const& id) override {
        std::lock_guard lock(mutex);
        if (!posts.contains(id.str())) {
            return fail(ErrorCode::not_found, "no post", 404);
        }
        posts[id.str()].delete_at = posts[id.str()].update_at = ++clock;
        return {};
    }
    Result<std::vector<mm::Post>> get_posts_since(MmChannelId const& channel_id, std::int64_t since_ms) override {
        std::lock_guard lock(mutex);
        std::vector<mm::Post> out;
        for (auto const& id : post_order) {
            auto const& p = posts[id];
            if (p.channel_id == channel_id && p.update_at >= since_ms) {
                out.push_back(p);
            }
        }
        return out;
    }
    // As the shim answers: the root, then the newest replies oldest first, at most mm::k_max_thread_posts in all.
    Result<mm::PostThread> get_post_thread(MmPostId const& id) override {
        std::lock_guard lock(mutex);
        ++thread_reads;
        if (!posts.contains(id.str())) {
            return fail(ErrorCode::not_found, "no post", 404);
        }
        auto const root_id = posts[id.str()].root_id.empty() ? id : posts[id.str()].root_id;
        mm::PostThread out;
        std::vector<mm::Post> replies;
        for (auto const& [pid, p] : posts) {
            if (p.delete_at != 0) {
                continue;
            }
            if (p.id == root_id) {
                out.posts.insert(out.posts.begin(), p);
            } else if (p.root_id == root_id) {
                replies.push_back(p);
            }
        }
        std::stable_sort(replies.begin(), replies.end(),
                         [](mm::Post const& a, mm::Post const& b) { return a.create_at < b.create_at; });
        auto const room = mm::k_max_thread_posts - out.posts.size();
        if (replies.size() > room) {
            replies.erase(replies.begin(), replies.end() - static_cast<std::ptrdiff_t>(room));
            out.truncated = true;
        }
        out.posts.insert(out.posts.end(), replies.begin(), replies.end());
        return out;
    }
    Result<mm::Reaction> add_reaction(mm::Reaction const& reaction) override {
        std::lock_guard lock(mutex);
        auto& list = reactions[reaction.post_id.str()];
        for (auto const& r : list) {
            if (r.user_id == reaction.user_id && r.emoji_name == reaction.emoji_name) {
                return r;
            }
        }
        list.push_back(reaction);
        return reaction;
    }
    Status remove_reaction(mm::Reaction const& reaction) override {
        std::lock_guard lock(mutex);
        auto& list = reactions[reaction.post_id.str()];
        std::erase_if(list, [&](mm::Reaction const& r) {
            return r.user_id == reaction.user_id && r.emoji_name == reaction.emoji_name;
        });
        return {};
    }
    Result<std::vector<mm::Reaction>> get_reactions(MmPostId const& post_id) override {
        std::lock_guard lock(mutex);
        return reactions[post_id.str()];
    }
    Result<mm::FileInfo> upload_file(MmUserId const& user_id, MmChannelId const& channel_id, std::string const& name,
                                     std::string const& data) override {
        std::lock_guard lock(mutex);
        mm::FileInfo info;
        info.id = next_id("file");
        info.user_id = user_id;
        info.channel_id = channel_id;
        info.name = name;
        info.size = static_cast<std::int64_t>(data.size());
        files[info.id] = {info, data};
        return info;
    }
    Result<mm::FileInfo> get_file_info(std::string const& file_id) override {
        std::lock_guard lock(mutex);
        if (!files.contains(file_id)) {
            return fail(ErrorCode::not_found, "no file", 404);
        }
        return files[file_id].first;
    }
    Result<std::string> get_file(std::string const& file_id) override {
        std::lock_guard lock(mutex);
        if (!files.contains(file_id)) {
            return fail(ErrorCode::not_found, "no file", 404);
        }
        return files[file_id].second;
    }
    // A member of a channel (channel_members) has the view time and settings of `memberships`, or none.
    Result<mm::ChannelMember> get_channel_member(MmChannelId const& channel_id, MmUserId const& user_id) override {
        std::lock_guard lock(mutex);
        auto const& members = channel_members[channel_id.str()];
        if (std::find(members.begin(), members.end(), user_id.str()) == members.end()) {
            return fail(ErrorCode::not_found, "not a member", 404);
        }
        return memberships[channel_id.str() + "/" + user_id.str()];
    }
    Result<mm::UserStatus> get_user_status(MmUserId const& user_id) override {
        std::lock_guard lock(mutex);
        auto const it = statuses.find(user_id.str());
        return mm::UserStatus{it == statuses.end() ? "offline" : it->second, 0, false};
    }
    Result<mm::Post> send_ephemeral_post(MmUserId const& user_id, mm::Post const& post) override {
        std::lock_guard lock(mutex);
        ephemerals.emplace_back(user_id.str(), post);
        return post;
    }
    Status publish_websocket_event(std::string const&, std::string const&, mm::Broadcast const&) override { return {}; }

    // A 26-character id, unique within this fake. The maps below are keyed by an id's text.
    std::string next_id(std::string const& prefix) {
        auto id = prefix + std::to_string(++ids);
        id.resize(26, 'x');
        return id;
    }

    std::mutex mutex;
    std::int64_t clock = 1'000;
    std::int64_t frozen_clock = 0;  // when set, the time of every post made without one (a burst in one instant)
    int ids = 0;
    std::map<std::string, mm::User> users;
    std::map<std::string, mm::Post> posts;
    std::vector<std::string> post_order;
    std::map<std::string, std::vector<mm::Reaction>> reactions;
    std::map<std::string, std::pair<mm::FileInfo, std::string>> files;
    std::map<std::string, mm::Channel> group_channels;
    std::map<std::string, std::vector<std::string>> channel_members;
    std::map<std::string, mm::ChannelMember> memberships;  // "channel id/user id"
    std::map<std::string, std::string> preferences;
    std::map<std::string, std::string> profile_images;           // user id → image bytes
    std::map<std::string, std::string> statuses;                 // user id → status
    std::set<std::string> inactive;                              // deactivated user ids
    std::map<std::string, std::set<std::string>> team_members;   // team id → user ids
    std::map<std::string, std::set<std::string>> group_members;  // group name → user ids
    std::set<std::string> refused_teams;                         // add_team_member fails for these
    std::vector<std::pair<mm::Session, std::map<std::string, std::string>>> sessions;  // made, with their props
    int team_additions = 0;
    int thread_reads = 0;
    int user_updates = 0;
    int status_updates = 0;
    std::vector<std::string> logs;
    std::vector<std::string> saved_configs;
    std::vector<std::pair<std::string, mm::Post>> ephemerals;  // (to user, post)
    std::vector<mm::Command> commands;
    std::vector<mm::Bot> bots;
    std::set<std::string> admins;
    std::set<std::string> channel_admins;
    bool fail_bot = false;
};

// A configuration that passes validation, as JSON, with keys as Mattermost stores them (lower-cased).
inline std::string valid_settings_json() {
    return R"({"tenantid":"8e7c2c3a-6a8b-4b6e-9d7e-2f0a1c9b5d41","clientid":"1f0c6a52-3d7b-4f0e-8a3b-6c2d9e4f7a10",
               "clientsecret":"s3cr3t~value","encryptionkey":"0123456789abcdef0123456789abcdef",
               "webhooksecret":"fedcba9876543210fedcba9876543210"})";
}

inline app::ServerSettings valid_server() {
    app::ServerSettings s;
    s.site_url = "https://chat.example.com/";
    s.sql_driver_name = "postgres";
    s.sql_data_source = "postgres://mmuser:secret@localhost/mattermost";
    s.max_file_size = 100LL << 20;
    return s;
}

}  // namespace msteams::test
