#pragma once

#include <functional>
#include <memory>

#include "commands/commands.hpp"
#include "sync/logins.hpp"

namespace msteams::commands {

using LoginsSource = std::function<std::shared_ptr<sync::Logins>()>;

// connect, disconnect, status; for system admins connect-bot and disconnect-bot.
void add_account_commands(Dispatcher& dispatcher, LoginsSource const& source);

}  // namespace msteams::commands
