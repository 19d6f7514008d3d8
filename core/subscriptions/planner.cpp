#include "subscriptions/planner.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string_view>
#include <unordered_set>
#include <utility>

namespace msteams::subscriptions {
namespace {

// `activity` recorded at at_ms, decayed to now_ms (unchanged for a time before at_ms).
double decayed(double activity, std::int64_t at_ms, std::int64_t now_ms, std::int64_t half_life_ms) {
    if (activity <= 0 || half_life_ms <= 0 || now_ms <= at_ms) {
        return std::max(activity, 0.0);
    }
    return activity * std::exp2(-static_cast<double>(now_ms - at_ms) / static_cast<double>(half_life_ms));
}

// What the budget leaves for per-user subscriptions.
std::size_t capacity_of(std::size_t budget, std::size_t reserve) { return budget > reserve ? budget - reserve : 0; }

// A connected user as a plan ranks them.
struct Ranked {
    std::string const* id = nullptr;
    double activity = 0;  // decayed to the plan's time (hybrid only)
    std::int64_t connected_at = 0;
    std::int64_t held_since = 0;
};

// Stronger first: per-user mode by the order users connected, hybrid by activity; ties by id, so that plans are
// deterministic.
struct Stronger {
    bool by_connection = false;
    bool operator()(Ranked const& a, Ranked const& b) const {
        if (by_connection) {
            if (a.connected_at != b.connected_at) {
                return a.connected_at < b.connected_at;
            }
        } else if (a.activity != b.activity) {
            return a.activity > b.activity;
        }
        return *a.id < *b.id;
    }
};

// The k strongest of the users offered, in O(log k) an offer: a heap whose front is the weakest kept.
class Strongest {
public:
    Strongest(Stronger order, std::size_t k) : order_(order), k_(k) { kept_.reserve(k); }

    void offer(Ranked const& r) {
        if (kept_.size() < k_) {
            kept_.push_back(r);
            std::push_heap(kept_.begin(), kept_.end(), order_);
        } else if (k_ > 0 && order_(r, kept_.front())) {
            std::pop_heap(kept_.begin(), kept_.end(), order_);
            kept_.back() = r;
            std::push_heap(kept_.begin(), kept_.end(), order_);
        }
    }
    // The users kept, strongest first.
    [[nodiscard]] std::vector<Ranked> take() {
        std::sort_heap(kept_.begin(), kept_.end(), order_);
        return std::move(kept_);
    }

private:
    Stronger order_;
    std::size_t k_ = 0;
    std::vector<Ranked> kept_;
};

// What a plan starts from.
struct Field {
    std::vector<std::string const*> gone;  // holders no longer connected, by id
    std::vector<Ranked> holders;           // connected holders, strongest first
    std::vector<Ranked> candidates;        // the strongest connected users without one, strongest first
};

// A plan being written, within max_writes.
class Writer {
public:
    explicit Writer(std::size_t max_writes) : left_(max_writes) {}

    bool drop(std::string const& user) {
        if (left_ == 0) {
            return false;
        }
        out_.drop.push_back(user);
        --left_;
        return true;
    }
    bool add(std::string const& user) {
        if (left_ == 0) {
            return false;
        }
        out_.add.push_back(user);
        --left_;
        return true;
    }
    // Both or neither.
    bool swap(std::string const& holder, std::string const& challenger) {
        if (left_ < 2) {
            return false;
        }
        out_.drop.push_back(holder);
        out_.add.push_back(challenger);
        left_ -= 2;
        return true;
    }
    [[nodiscard]] Plan take() { return std::move(out_); }

private:
    Plan out_;
    std::size_t left_ = 0;
};

Plan make_plan(PlannerSettings const& s, std::size_t capacity, std::int64_t now_ms, Field& f) {
    Writer w(s.max_writes);
    // 1. The holders no longer connected give theirs back first; those past max_writes keep their place meanwhile.
    auto gone_left = f.gone.size();
    for (auto const* id : f.gone) {
        if (!w.drop(*id)) {
            break;
        }
        --gone_left;
    }
    // 2. Over capacity (the budget shrank): the weakest holders give theirs back, the rest at the next plans.
    auto& holders = f.holders;
    while (gone_left + holders.size() > capacity && !holders.empty() && w.drop(*holders.back().id)) {
        holders.pop_back();
    }
    auto const occupied = gone_left + holders.size();
    if (occupied > capacity) {
        return w.take();
    }
    // 3. Free places go to the strongest candidates: no hysteresis for a place nobody holds.
    std::size_t next = 0;
    for (auto free = capacity - occupied; free > 0 && next < f.candidates.size(); --free) {
        if (!w.add(*f.candidates[next].id)) {
            break;
        }
        ++next;
    }
    if (s.mode == PlanMode::per_user) {
        return w.take();  // no rebalancing: a holder keeps it while connected and within the budget
    }
    // 4. Hybrid: the strongest challenger takes the place of the weakest holder that has held it min_hold_ms, while
    // its activity exceeds the holder's by the hysteresis factor (below 1 it would swap back and forth: taken as 1).
    // A holder whose activity fell below min_activity keeps it until someone busier wants it: a write for nothing
    // otherwise, and its chats still get rich delivery.
    auto const factor = std::max(s.hysteresis, 1.0);
    std::erase_if(holders, [&](Ranked const& h) { return now_ms - h.held_since < s.min_hold_ms; });
    while (next < f.candidates.size() && !holders.empty()) {
        auto const& challenger = f.candidates[next];
        auto const& weakest = holders.back();
        if (!(challenger.activity > weakest.activity * factor) || !w.swap(*weakest.id, *challenger.id)) {
            break;
        }
        holders.pop_back();
        ++next;
    }
    return w.take();
}

std::string number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, v > 0 && v < 0.1 ? "%.2g" : "%.1f", v);
    return buf;
}

std::string ordinal(std::size_t n) {
    auto const tens = n % 100;
    auto const units = n % 10;
    char const* suffix = "th";
    if ((tens < 11 || tens > 13) && units >= 1 && units <= 3) {
        suffix = units == 1 ? "st" : units == 2 ? "nd" : "rd";
    }
    return std::to_string(n) + suffix;
}

// Where a connected user stands, for explain().
struct Standing {
    double activity = 0;
    std::size_t rank = 1;       // 1: the busiest (hybrid) or the first to connect (per-user)
    std::size_t connected = 0;  // connected users
    std::size_t holders = 0;    // connected holders
    std::size_t occupied = 0;   // holders, connected or not (a disconnected one holds it until its drop)
    double weakest = -1;        // the activity of the weakest connected holder (-1: none)
    std::size_t capacity = 0;
    std::size_t budget = 0;
    std::size_t configured = 0;
};

std::string budget_text(Standing const& s) {
    auto text = "budget " + std::to_string(s.capacity) + " rich of " + std::to_string(s.budget);
    if (s.budget < s.configured) {
        text += " (shrunk from " + std::to_string(s.configured) +
                " after Microsoft Graph refused one for the organization's quota)";
    }
    return text;
}

std::string explain_per_user(Standing const& s, bool holds) {
    auto const where =
        ordinal(s.rank) + " to connect of the " + std::to_string(s.connected) + " connected, " + budget_text(s);
    if (holds) {
        return "has a rich subscription: " + where;
    }
    if (s.capacity == 0) {
        return "on the global subscription: the budget leaves no rich subscriptions (" + where + ")";
    }
    if (s.occupied < s.capacity) {
        return "on the global subscription for now: the next plan gives them one (" + where + ", " +
               std::to_string(s.occupied) + " in use)";
    }
    return "on the global subscription: the budget is full (per-user mode gives them in the order users connected): " +
           where;
}

std::string explain_hybrid(Standing const& s, bool holds, PlannerSettings const& settings) {
    auto const where = "activity " + number(s.activity) + " (rank " + std::to_string(s.rank) + " of " +
                       std::to_string(s.connected) + " connected)";
    if (holds) {
        return "has a rich subscription: " + where + ", " + budget_text(s) +
               (s.activity < settings.min_activity ? "; kept until a busier user needs it (less than the " +
                                                         number(settings.min_activity) + " a new one needs)"
                                                   : "");
    }
    if (s.capacity == 0) {
        return "on the global subscription: " + where + "; the budget leaves no rich subscriptions (" + budget_text(s) +
               ")";
    }
    if (s.activity < settings.min_activity) {
        return "on the global subscription: " + where + "; a rich subscription needs activity ≥ " +
               number(settings.min_activity) + " (" + budget_text(s) + ")";
    }
    if (s.occupied < s.capacity) {
        return "on the global subscription for now: " + where + "; the next plan gives them one (" + budget_text(s) +
               ", " + std::to_string(s.occupied) + " in use)";
    }
    auto const weakest = std::max(s.weakest, 0.0);
    auto const factor = std::max(settings.hysteresis, 1.0);
    if (s.holders > 0 && s.activity > weakest * factor) {
        return "on the global subscription for now: " + where +
               "; busy enough to take the place of the weakest holder (activity " + number(weakest) +
               ") at a coming plan (" + budget_text(s) + ")";
    }
    return "on the global subscription: " + where + "; the " + std::to_string(s.holders) +
           " rich subscriptions go to activity ≥ " + number(weakest) + ", and taking one needs more than " +
           number(weakest * factor) + " (" + number(factor) + " times the weakest holder's; " + budget_text(s) + ")";
}

}  // namespace

Planner::Planner(PlannerSettings settings) : settings_(settings) {}

void Planner::connect(std::string const& user, std::int64_t now_ms) {
    auto& u = users_[user];
    if (!u.connected) {
        u.connected = true;
        u.connected_at = now_ms;
        ++connected_;
    }
}

void Planner::disconnect(std::string const& user) {
    auto const it = users_.find(user);
    if (it != users_.end() && it->second.connected) {
        it->second.connected = false;
        --connected_;
    }
}

void Planner::set_connected(std::vector<std::string> const& users, std::int64_t now_ms) {
    std::unordered_set<std::string_view> const wanted(users.begin(), users.end());
    for (auto& [id, u] : users_) {
        if (u.connected && !wanted.contains(id)) {
            u.connected = false;
            --connected_;
        }
    }
    for (auto const& u : users) {
        connect(u, now_ms);
    }
}

void Planner::credit(std::string const& user, double messages, std::int64_t now_ms) {
    auto& u = users_[user];
    messages = std::max(messages, 0.0);
    if (now_ms >= u.activity_at) {
        u.activity = decayed(u.activity, u.activity_at, now_ms, settings_.half_life_ms) + messages;
        u.activity_at = now_ms;
    } else {
        u.activity += decayed(messages, now_ms, u.activity_at, settings_.half_life_ms);  // late: as at activity_at
    }
}

void Planner::set_activity(std::string const& user, double activity, std::int64_t at_ms) {
    auto& u = users_[user];
    u.activity = std::max(activity, 0.0);
    u.activity_at = at_ms;
}

double Planner::activity(std::string const& user, std::int64_t now_ms) const {
    auto const it = users_.find(user);
    if (it == users_.end()) {
        return 0;
    }
    return decayed(it->second.activity, it->second.activity_at, now_ms, settings_.half_life_ms);
}

void Planner::held(std::string const& user, bool holds, std::int64_t since_ms) {
    auto& u = users_[user];
    if (u.holds != holds) {
        if (holds) {
            ++holding_;
        } else {
            --holding_;
        }
    }
    u.holds = holds;
    u.held_since = holds ? since_ms : 0;
}

void Planner::quota_refused(std::size_t owned, std::int64_t now_ms) {
    refused_budget_ = std::max(owned, settings_.reserve);
    refused_at_ = now_ms;
    refused_ = refused_budget_ < settings_.budget;
}

std::size_t Planner::budget(std::int64_t now_ms) const {
    if (!refused_ || settings_.regrow_after_ms <= 0) {
        return settings_.budget;  // regrow_after_ms ≤ 0: a refusal shrinks nothing
    }
    auto const periods = now_ms > refused_at_ ? (now_ms - refused_at_) / settings_.regrow_after_ms : 0;
    auto const room = settings_.budget - refused_budget_;
    return periods >= static_cast<std::int64_t>(room) ? settings_.budget
                                                      : refused_budget_ + static_cast<std::size_t>(periods);
}

Plan Planner::plan(std::int64_t now_ms) {
    auto const budget_now = budget(now_ms);
    if (refused_ && budget_now >= settings_.budget) {
        refused_ = false;  // grown back to the configured budget: forgotten
    }
    auto const capacity = capacity_of(budget_now, settings_.reserve);
    bool const hybrid = settings_.mode == PlanMode::hybrid;
    Stronger const order{!hybrid};
    // One pass over the users, O(n log k): only the k strongest candidates can get one (k: what one plan may add).
    Field f;
    f.holders.reserve(holding_);
    Strongest candidates(order, std::min(settings_.max_writes, capacity));
    for (auto const& [id, u] : users_) {
        if (!u.connected) {
            if (u.holds) {
                f.gone.push_back(&id);
            }
            continue;
        }
        auto const activity = hybrid ? decayed(u.activity, u.activity_at, now_ms, settings_.half_life_ms) : 0.0;
        Ranked const r{&id, activity, u.connected_at, u.held_since};
        if (u.holds) {
            f.holders.push_back(r);
        } else if (!hybrid || activity >= settings_.min_activity) {
            candidates.offer(r);
        }
    }
    std::sort(f.gone.begin(), f.gone.end(), [](auto const* a, auto const* b) { return *a < *b; });
    std::sort(f.holders.begin(), f.holders.end(), order);
    f.candidates = candidates.take();
    return make_plan(settings_, capacity, now_ms, f);
}

std::string Planner::explain(std::string const& user, std::int64_t now_ms) const {
    auto const it = users_.find(user);
    if (it == users_.end() || !it->second.connected) {
        return it != users_.end() && it->second.holds ? "not connected (their rich subscription goes at the next plan)"
                                                      : "not connected";
    }
    auto const& me = it->second;
    bool const hybrid = settings_.mode == PlanMode::hybrid;
    Stronger const order{!hybrid};
    Standing s;
    s.activity = decayed(me.activity, me.activity_at, now_ms, settings_.half_life_ms);
    s.budget = budget(now_ms);
    s.configured = settings_.budget;
    s.capacity = capacity_of(s.budget, settings_.reserve);
    s.connected = connected_;
    s.occupied = holding_;
    Ranked const mine{&it->first, s.activity, me.connected_at, me.held_since};
    for (auto const& [id, u] : users_) {
        if (!u.connected) {
            continue;
        }
        auto const a = decayed(u.activity, u.activity_at, now_ms, settings_.half_life_ms);
        if (u.holds) {
            ++s.holders;
            s.weakest = s.weakest < 0 ? a : std::min(s.weakest, a);
        }
        s.rank += order(Ranked{&id, a, u.connected_at, u.held_since}, mine) ? 1 : 0;
    }
    return hybrid ? explain_hybrid(s, me.holds, settings_) : explain_per_user(s, me.holds);
}

}  // namespace msteams::subscriptions
