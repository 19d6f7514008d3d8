#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

// Which connected users get a rich per-user subscription (/users/{id}/chats/getAllMessages with resource data), under
// a budget of Teams subscriptions that the organization's 10,000 (shared by every app) leaves the bridge. Pure: no
// I/O, no clock of its own. The monitor feeds it who is connected, their activity and what Graph answered, and carries
// out its plans; the planner simulation (bench/planner) drives it over 100,000 users.
namespace msteams::subscriptions {

enum class PlanMode {
    per_user,  // every connected user, in the order they connected, while the budget lasts; no rebalancing
    hybrid,    // the users whose chats carry the most bridged traffic, rebalanced as activity shifts
};

struct PlannerSettings {
    PlanMode mode = PlanMode::hybrid;
    // Teams subscriptions the bridge may own in all, the global subscription included (perUserSubscriptionBudget).
    std::size_t budget = 9000;
    // Kept out of the budget for the bridge's other subscriptions (the global one): per-user ones get budget - reserve.
    std::size_t reserve = 1;
    // A user's activity (bridged messages in their chats) halves in this long.
    std::int64_t half_life_ms = 6LL * 60 * 60 * 1000;
    // Hybrid: a user without a rich subscription takes one from a holder only when its activity exceeds the holder's
    // by this factor (1.5: half as much again), and only from a holder that has had it for min_hold_ms.
    double hysteresis = 1.5;
    std::int64_t min_hold_ms = 30LL * 60 * 1000;
    // Hybrid: below this activity a user is not worth a subscription even when the budget has room.
    double min_activity = 1.0;
    // Subscription creations and deletions one plan may ask for: Graph allows an app 1,000 subscription writes per
    // 20 s; 100 a pass (every 30 s) stays far below, and their validation handshakes take seconds.
    std::size_t max_writes = 100;
    // After Graph refused a creation for the quota, the budget is tried one higher again after this long.
    std::int64_t regrow_after_ms = 60LL * 60 * 1000;
};

struct Plan {
    std::vector<std::string> add;   // Teams user ids to give a rich subscription, most deserving first
    std::vector<std::string> drop;  // Teams user ids whose rich subscription is to go (disconnected first)
};

class Planner {
public:
    explicit Planner(PlannerSettings settings);

    // Connection state. A user connected again keeps its activity; connect() of a connected user changes nothing.
    void connect(std::string const& user, std::int64_t now_ms);
    void disconnect(std::string const& user);
    // Replaces the set of connected users (users not in it are disconnected; new ones connected at now_ms).
    void set_connected(std::vector<std::string> const& users, std::int64_t now_ms);

    // `messages` bridged messages in a chat of `user` at now_ms: adds to its decayed activity.
    void credit(std::string const& user, double messages, std::int64_t now_ms);
    // Sets a user's decayed activity as read back from storage (its value at `at_ms`).
    void set_activity(std::string const& user, double activity, std::int64_t at_ms);
    // The user's activity decayed to now_ms (0 for an unknown user).
    [[nodiscard]] double activity(std::string const& user, std::int64_t now_ms) const;

    // What the monitor found: `user` holds a rich subscription since `since_ms` (or no longer does).
    void held(std::string const& user, bool holds, std::int64_t since_ms);

    // Graph refused to create a subscription for the organization's quota while the bridge owned `owned` (the global
    // one included): the budget becomes `owned` (never less than reserve), and is tried one higher after
    // regrow_after_ms, up to the configured budget.
    void quota_refused(std::size_t owned, std::int64_t now_ms);
    // The budget in force (the configured one, or less after a quota refusal).
    [[nodiscard]] std::size_t budget(std::int64_t now_ms) const;

    // The changes to make now, at most max_writes of them. Applying them (held()) and planning again converges; a
    // plan with nothing to change is empty.
    [[nodiscard]] Plan plan(std::int64_t now_ms);

    // Counts for the status report.
    [[nodiscard]] std::size_t connected_count() const noexcept { return connected_; }
    [[nodiscard]] std::size_t holding_count() const noexcept { return holding_; }
    // One line for an admin: whether `user` has a rich subscription and why (or why not), with its activity, its rank
    // and the budget. "not connected" for a user the planner does not know as connected.
    [[nodiscard]] std::string explain(std::string const& user, std::int64_t now_ms) const;

private:
    struct User {
        double activity = 0;  // decayed to activity_at
        std::int64_t activity_at = 0;
        std::int64_t connected_at = 0;
        std::int64_t held_since = 0;
        bool connected = false;
        bool holds = false;
    };
    PlannerSettings settings_;
    std::unordered_map<std::string, User> users_;
    std::size_t connected_ = 0;
    std::size_t holding_ = 0;
    bool refused_ = false;            // a quota refusal is in force (forgotten once the budget has grown back)
    std::size_t refused_budget_ = 0;  // the budget the refusal left, at refused_at_
    std::int64_t refused_at_ = 0;
};

}  // namespace msteams::subscriptions
