#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "mm/api.hpp"

// The /msteams slash command: parsing, permissions, help and autocomplete. Sub-commands are registered by the
// modules that own them; this module only dispatches.
namespace msteams::commands {

inline constexpr char const* k_trigger = "msteams";
inline constexpr std::size_t k_max_command_length = 4096;

struct Invocation {
    mm::CommandArgs args;
    // The words after the sub-command.
    std::vector<std::string> words;
};

// An argument whose suggestions Mattermost fetches from the plugin as the user types (a dynamic list).
struct DynamicArgument {
    std::string help;
    std::string fetch_url;  // "plugins/<plugin id>/…", asked with the user's session
};

struct SubCommand {
    std::string name;
    std::string hint;  // e.g. "[username]"
    std::string help;  // one line
    bool admin_only = false;
    // Returns the text of the ephemeral reply, or an error whose message is shown to the user.
    std::function<Result<std::string>(Invocation const&)> run;
    // Autocomplete of the arguments, in order (none: the hint only).
    std::vector<DynamicArgument> arguments{};
};

class Dispatcher {
public:
    explicit Dispatcher(mm::Api& api);

    // Adds a sub-command; a later one with the same name replaces the earlier.
    void add(SubCommand command);
    // The sub-command of that name, or nullptr (valid until the next add).
    [[nodiscard]] SubCommand const* find(std::string const& name) const;

    // While the gate returns a text, every sub-command but help answers it instead of running (the plugin is not set
    // up yet, say). The gate can ask whether the caller is a system admin.
    using Gate = std::function<std::optional<std::string>(std::function<bool()> const& is_admin)>;
    void set_gate(Gate gate) { gate_ = std::move(gate); }

    // The command to register with Mattermost, with autocomplete data for every sub-command.
    [[nodiscard]] mm::Command registration(std::string icon_svg) const;

    // Never fails: errors become an ephemeral reply that says what went wrong.
    [[nodiscard]] mm::CommandResponse execute(mm::CommandArgs const& args) const;

    [[nodiscard]] std::string help_text(bool include_admin) const;

private:
    [[nodiscard]] bool is_system_admin(MmUserId const& user_id) const;

    mm::Api& api_;
    std::vector<SubCommand> commands_;
    Gate gate_;
};

}  // namespace msteams::commands
