#include "store/overview.hpp"

#include <algorithm>

namespace msteams::store {

Result<Overview> read_overview(Database& db) {
    Overview o;
    Rows totals;
    MSTEAMS_TRY_ASSIGN(
        totals, db.exec("SELECT (SELECT count(*) FROM msteams_inbox) AS inbox_items, "
                        "(SELECT coalesce(min(received_at), 0) FROM msteams_inbox) AS inbox_oldest_at, "
                        "(SELECT count(*) FROM msteams_outbox) AS outbox_items, "
                        "(SELECT coalesce(min(created_at), 0) FROM msteams_outbox) AS outbox_oldest_at, "
                        "(SELECT count(*) FROM msteams_dead_letters) AS dead_letters, "
                        "(SELECT count(*) FROM msteams_accounts WHERE token_sealed IS NOT NULL) AS connected_users, "
                        "(SELECT count(*) FROM msteams_accounts WHERE token_sealed IS NULL) AS disconnected_users"));
    o.inbox_items = totals.integer(0, "inbox_items");
    o.inbox_oldest_at = totals.integer(0, "inbox_oldest_at");
    o.outbox_items = totals.integer(0, "outbox_items");
    o.outbox_oldest_at = totals.integer(0, "outbox_oldest_at");
    o.dead_letters = totals.integer(0, "dead_letters");
    o.connected_users = totals.integer(0, "connected_users");
    o.disconnected_users = totals.integer(0, "disconnected_users");

    Rows subs;
    MSTEAMS_TRY_ASSIGN(subs, db.exec("SELECT kind, count(*) AS n, min(expires_at) AS soonest, "
                                     "count(*) FILTER (WHERE state <> 'active') AS not_active "
                                     "FROM msteams_subscriptions GROUP BY kind ORDER BY kind"));
    for (std::size_t i = 0; i < subs.size(); ++i) {
        o.subscriptions.push_back(Overview::Subscriptions{subs.text(i, "kind"), subs.integer(i, "n"),
                                                          subs.integer(i, "soonest"), subs.integer(i, "not_active")});
    }
    if (std::none_of(o.subscriptions.begin(), o.subscriptions.end(), [](auto const& s) { return s.kind == "chats"; })) {
        o.subscriptions.insert(o.subscriptions.begin(), Overview::Subscriptions{"chats", 0, 0, 0});
    }
    return o;
}

}  // namespace msteams::store
