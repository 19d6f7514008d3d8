#include "store/repositories.hpp"

#include <utility>

namespace msteams::store {

Repositories postgres_repositories(std::shared_ptr<Database> db) {
    Repositories r;
    r.accounts = postgres_accounts(db);
    r.oauth_states = postgres_oauth_states(db);
    r.users = postgres_users(db);
    r.portals = postgres_portals(db);
    r.chats = postgres_chats(db);
    r.messages = postgres_messages(db);
    r.reactions = postgres_reactions();
    r.notified = postgres_notified();
    r.inbox = postgres_inbox(db);
    r.outbox = postgres_outbox(db);
    r.dead_letters = postgres_dead_letters(db);
    r.subscriptions = postgres_subscriptions(db);
    r.leases = postgres_leases(db);
    r.nodes = postgres_nodes(db);
    r.notices = postgres_notices(db);
    r.certificates = postgres_certificates(db);
    r.planning = postgres_planning(db);
    r.db = std::move(db);
    return r;
}

}  // namespace msteams::store
