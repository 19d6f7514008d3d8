#include "commands/commands.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>

#include "common/log.hpp"
#include "common/strings.hpp"

namespace msteams::commands {
namespace {

// Mattermost offers an autocomplete entry to users whose role is the entry's (system admins see everything); an empty
// role matches nobody but admins.
constexpr char const* k_role_user = "system_user";
constexpr char const* k_role_admin = "system_admin";

mm::CommandResponse ephemeral(std::string text) {
    mm::CommandResponse r;
    r.response_type = "ephemeral";
    r.text = std::move(text);
    return r;
}

}  // namespace

Dispatcher::Dispatcher(mm::Api& api) : api_(api) {
    add(SubCommand{
        .name = "help",
        .hint = "",
        .help = "Show this help.",
        .admin_only = false,
        .run = nullptr,  // handled by execute(): the help text depends on who asks
    });
}

void Dispatcher::add(SubCommand command) {
    auto const it =
        std::find_if(commands_.begin(), commands_.end(), [&](SubCommand const& c) { return c.name == command.name; });
    if (it != commands_.end()) {
        *it = std::move(command);
    } else {
        commands_.push_back(std::move(command));
    }
}

SubCommand const* Dispatcher::find(std::string const& name) const {
    auto const it =
        std::find_if(commands_.begin(), commands_.end(), [&](SubCommand const& c) { return c.name == name; });
    return it == commands_.end() ? nullptr : &*it;
}

mm::Command Dispatcher::registration(std::string icon_svg) const {
    using nlohmann::json;
    json subs = json::array();
    for (auto const& c : commands_) {
        json arguments = json::array();
        for (auto const& a : c.arguments) {
            arguments.push_back(json{{"Name", ""},
                                     {"HelpText", a.help},
                                     {"Type", "DynamicList"},
                                     {"Required", true},
                                     {"Data", json{{"FetchURL", a.fetch_url}}}});
        }
        subs.push_back(json{{"Trigger", c.name},
                            {"Hint", c.hint},
                            {"HelpText", c.help},
                            {"RoleID", c.admin_only ? k_role_admin : k_role_user},
                            {"Arguments", std::move(arguments)},
                            {"SubCommands", json::array()}});
    }
    json const data{{"Trigger", k_trigger},
                    {"Hint", "[command]"},
                    {"HelpText", "Connect to and bridge with Microsoft Teams"},
                    {"RoleID", k_role_user},
                    {"Arguments", json::array()},
                    {"SubCommands", subs}};
    mm::Command cmd;
    cmd.trigger = k_trigger;
    cmd.display_name = "MS Teams";
    cmd.description = "Connect to and bridge with Microsoft Teams";
    cmd.auto_complete = true;
    cmd.auto_complete_desc = "Available commands: ";
    for (std::size_t i = 0; i < commands_.size(); ++i) {
        cmd.auto_complete_desc += (i ? ", " : "") + commands_[i].name;
    }
    cmd.auto_complete_hint = "[command]";
    cmd.autocomplete_data_json = data.dump();
    cmd.icon = std::move(icon_svg);
    return cmd;
}

std::string Dispatcher::help_text(bool include_admin) const {
    std::string text = "#### MS Teams commands\n";
    for (auto const& c : commands_) {
        if (c.admin_only && !include_admin) {
            continue;
        }
        text += "* `/" + std::string(k_trigger) + " " + c.name + (c.hint.empty() ? "" : " " + c.hint) + "` — " +
                c.help + (c.admin_only ? " (system admins)" : "") + "\n";
    }
    return text;
}

bool Dispatcher::is_system_admin(MmUserId const& user_id) const {
    auto const allowed = api_.has_permission_to(user_id, "manage_system");
    if (!allowed) {
        log::warn("could not check a user's permissions", {{"user_id", user_id}, {"error", allowed.error().message}});
        return false;
    }
    return *allowed;
}

mm::CommandResponse Dispatcher::execute(mm::CommandArgs const& args) const {
    if (args.command.size() > k_max_command_length) {
        return ephemeral("That command is too long (more than " + std::to_string(k_max_command_length) +
                         " characters).");
    }
    auto words = strings::split_words(args.command);
    // words[0] is "/msteams"; anything else means Mattermost routed another trigger here.
    if (words.empty() || strings::to_lower(words[0]) != "/" + std::string(k_trigger)) {
        return ephemeral("This is not an MS Teams command.");
    }
    if (words.size() < 2) {
        return ephemeral(help_text(is_system_admin(args.user_id)));
    }
    auto const name = strings::to_lower(words[1]);
    auto const it =
        std::find_if(commands_.begin(), commands_.end(), [&](SubCommand const& c) { return c.name == name; });
    if (it == commands_.end() || !it->run) {
        bool const admin = is_system_admin(args.user_id);
        if (it == commands_.end()) {
            return ephemeral("Unknown command: `" + strings::utf8_prefix(words[1], 64) + "`.\n\n" + help_text(admin));
        }
        return ephemeral(help_text(admin));
    }
    std::optional<bool> admin;  // asked at most once, and only when needed
    auto const is_admin = [&] {
        if (!admin) {
            admin = is_system_admin(args.user_id);
        }
        return *admin;
    };
    if (it->admin_only && !is_admin()) {
        return ephemeral("`/" + std::string(k_trigger) + " " + it->name + "` is for system admins only.");
    }
    if (gate_) {
        if (auto closed = gate_(is_admin)) {
            return ephemeral(std::move(*closed));
        }
    }
    Invocation inv{args, std::vector<std::string>(words.begin() + 2, words.end())};
    try {
        auto reply = it->run(inv);
        if (!reply) {
            return ephemeral(reply.error().message);
        }
        return ephemeral(std::move(*reply));
    } catch (std::exception const& e) {
        log::error("slash command failed", {{"command", it->name}, {"error", e.what()}});
        return ephemeral("Something went wrong running that command. The server log has the details.");
    }
}

}  // namespace msteams::commands
