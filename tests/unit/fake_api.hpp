#pragma once

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
    Result<std::string> ensure_bot(mm::Bot const& bot) override {
        std::lock_guard lock(mutex);
        bots.push_back(bot);
        if (fail_bot) {
            return fail(ErrorCode::internal, "bot creation failed");
        }
        return std::string("botuserid00000000000000000");
    }
    Result<mm::User> get_user(std::string const&) override { return fail(ErrorCode::not_found, "no user"); }
    Result<mm::User> get_user_by_email(std::string const&) override { return fail(ErrorCode::not_found, "no user"); }
    Result<mm::User> get_user_by_username(std::string const&) override {
        return fail(ErrorCode::not_found, "no user");
    }
    Result<bool> has_permission_to(std::string const& user_id, std::string const& permission) override {
        return permission == "manage_system" && admins.contains(user_id);
    }
    Result<mm::Channel> get_channel(std::string const&) override { return fail(ErrorCode::not_found, "no channel"); }
    Result<mm::Channel> get_direct_channel(std::string const&, std::string const&) override {
        return fail(ErrorCode::not_found, "no channel");
    }
    Result<mm::Post> create_post(mm::Post const& post) override { return post; }
    Result<mm::Post> send_ephemeral_post(std::string const&, mm::Post const& post) override { return post; }
    Status publish_websocket_event(std::string const&, std::string const&, mm::Broadcast const&) override {
        return {};
    }

    std::mutex mutex;
    std::vector<std::string> logs;
    std::vector<std::string> saved_configs;
    std::vector<mm::Command> commands;
    std::vector<mm::Bot> bots;
    std::set<std::string> admins;
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
