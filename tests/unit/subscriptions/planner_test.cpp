#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "subscriptions/planner.hpp"

using msteams::subscriptions::Plan;
using msteams::subscriptions::PlanMode;
using msteams::subscriptions::Planner;
using msteams::subscriptions::PlannerSettings;

namespace {

constexpr std::int64_t k_minute = 60LL * 1000;
constexpr std::int64_t k_hour = 60 * k_minute;
constexpr std::int64_t k_t0 = 1'700'000'000'000;

PlannerSettings settings(PlanMode mode, std::size_t budget) {
    PlannerSettings s;
    s.mode = mode;
    s.budget = budget;
    s.reserve = 1;
    return s;
}

std::string user(int i) { return "user-" + std::to_string(1000 + i); }  // same length: ids sort like numbers

// The planner and the rich subscriptions it has been told of, as the monitor keeps them.
struct Bed {
    explicit Bed(PlannerSettings const& s) : planner(s) {}

    Planner planner;
    std::set<std::string> holders;

    void apply(Plan const& p, std::int64_t now) {
        for (auto const& u : p.drop) {
            REQUIRE(holders.erase(u) == 1);
            planner.held(u, false, now);
        }
        for (auto const& u : p.add) {
            REQUIRE(holders.insert(u).second);
            planner.held(u, true, now);
        }
    }
    Plan step(std::int64_t now) {
        auto p = planner.plan(now);
        apply(p, now);
        return p;
    }
    // Plans and applies until a plan is empty; every step within max_writes, and no more holders than `capacity`
    // (or fewer than before, while the budget shrank). Returns the number of non-empty plans.
    int converge(std::int64_t now, std::size_t capacity, std::size_t max_writes) {
        for (int plans = 0; plans < 10000; ++plans) {
            auto const before = holders.size();
            auto const p = step(now);
            if (p.add.empty() && p.drop.empty()) {
                return plans;
            }
            CHECK(p.add.size() + p.drop.size() <= max_writes);
            CHECK((holders.size() <= capacity || holders.size() < before));
            CHECK(holders.size() == planner.holding_count());
        }
        FAIL("the plans do not converge");
        return -1;
    }
};

std::vector<std::string> users(std::initializer_list<int> idx) {
    std::vector<std::string> out;
    for (int i : idx) {
        out.push_back(user(i));
    }
    return out;
}

}  // namespace

TEST_CASE("planner: activity halves every half-life, a credit decays what was there and then adds", "[planner]") {
    auto s = settings(PlanMode::hybrid, 10);
    s.half_life_ms = 6 * k_hour;
    Planner p(s);
    CHECK(p.activity("nobody", k_t0) == 0);
    p.credit(user(1), 8, k_t0);
    CHECK(p.activity(user(1), k_t0) == Approx(8));
    CHECK(p.activity(user(1), k_t0 + 6 * k_hour) == Approx(4));
    CHECK(p.activity(user(1), k_t0 + 3 * k_hour) == Approx(8 / std::sqrt(2.0)));
    p.credit(user(1), 4, k_t0 + 6 * k_hour);
    CHECK(p.activity(user(1), k_t0 + 6 * k_hour) == Approx(8));
    CHECK(p.activity(user(1), k_t0 + 12 * k_hour) == Approx(4));
    // A credit dated before the last one counts as decayed to it.
    p.credit(user(1), 2, k_t0);
    CHECK(p.activity(user(1), k_t0 + 6 * k_hour) == Approx(9));

    // Activity read back from storage: its value at the time given.
    p.set_activity(user(2), 10, k_t0 - 6 * k_hour);
    CHECK(p.activity(user(2), k_t0) == Approx(5));

    // A user not connected keeps the activity credited meanwhile, and a reconnect keeps it too.
    CHECK(p.connected_count() == 0);
    p.connect(user(3), k_t0);
    p.disconnect(user(3));
    p.credit(user(3), 6, k_t0);
    p.connect(user(3), k_t0 + k_hour);
    CHECK(p.connected_count() == 1);
    CHECK(p.activity(user(3), k_t0) == Approx(6));
}

TEST_CASE("planner: per-user mode gives the budget to users in the order they connected, activity aside", "[planner]") {
    Bed b(settings(PlanMode::per_user, 4));  // the global subscription and three users
    for (int i = 0; i < 6; ++i) {
        b.planner.connect(user(i), k_t0 + 10 - i);  // user 5 connected first
        b.planner.credit(user(i), 100.0 * i, k_t0);
    }
    b.planner.connect(user(6), k_t0 + 5);  // connected with user 5: the id decides
    auto const p = b.step(k_t0 + k_hour);
    CHECK(p.add == users({5, 6, 4}));
    CHECK(p.drop.empty());
    auto const q = b.planner.plan(k_t0 + k_hour);
    CHECK(q.add.empty());
    CHECK(q.drop.empty());

    // A holder that disconnects gives theirs to the next in line; one reconnecting comes last.
    b.planner.disconnect(user(4));
    auto const r = b.step(k_t0 + 2 * k_hour);
    CHECK(r.drop == users({4}));
    CHECK(r.add == users({3}));
    b.planner.connect(user(4), k_t0 + 2 * k_hour);
    CHECK(b.converge(k_t0 + 2 * k_hour, 3, 20) == 0);
    CHECK(b.holders == std::set<std::string>{user(3), user(5), user(6)});
}

TEST_CASE("planner: hybrid gives the budget to the busiest connected users with enough activity", "[planner]") {
    auto s = settings(PlanMode::hybrid, 4);
    s.min_activity = 1.0;
    Bed b(s);
    std::vector<double> const activity{20, 50, 0.5, 40, 10, 30};
    for (int i = 0; i < 6; ++i) {
        b.planner.connect(user(i), k_t0 + i);
        b.planner.set_activity(user(i), activity[static_cast<std::size_t>(i)], k_t0);
    }
    b.planner.credit(user(9), 1000, k_t0);  // not connected: no subscription
    auto const p = b.step(k_t0);
    CHECK(p.add == users({1, 3, 5}));  // most deserving first
    CHECK(p.drop.empty());
    CHECK(b.planner.holding_count() == 3);

    // With room for everyone, still nobody below min_activity.
    auto t = settings(PlanMode::hybrid, 20);
    Bed wide(t);
    for (int i = 0; i < 6; ++i) {
        wide.planner.connect(user(i), k_t0 + i);
        wide.planner.set_activity(user(i), activity[static_cast<std::size_t>(i)], k_t0);
    }
    CHECK(wide.step(k_t0).add == users({1, 3, 5, 0, 4}));
}

TEST_CASE("planner: hysteresis keeps a holder against a slightly busier challenger, not against one twice as busy",
          "[planner]") {
    auto s = settings(PlanMode::hybrid, 3);
    s.hysteresis = 1.5;
    s.min_hold_ms = 30 * k_minute;
    Bed b(s);
    for (int i = 0; i < 3; ++i) {
        b.planner.connect(user(i), k_t0);
    }
    b.planner.set_activity(user(0), 1000, k_t0);
    b.planner.set_activity(user(1), 8, k_t0);
    b.planner.set_activity(user(2), 9, k_t0);
    b.apply(Plan{{user(0), user(1)}, {}}, k_t0);

    // 9 > 8 but not by half again: nothing changes, even long after.
    CHECK(b.step(k_t0 + 2 * k_hour).add.empty());
    CHECK(b.holders == std::set<std::string>{user(0), user(1)});

    // Twice the weakest holder's: swapped in, but not before the holder has held it min_hold_ms.
    b.planner.set_activity(user(2), 16, k_t0);
    b.planner.held(user(1), true, k_t0 + 2 * k_hour);  // the monitor made user 1's again
    auto const early = b.planner.plan(k_t0 + 2 * k_hour + 29 * k_minute);
    CHECK(early.add.empty());
    CHECK(early.drop.empty());
    auto const later = b.step(k_t0 + 2 * k_hour + 30 * k_minute);
    CHECK(later.drop == users({1}));
    CHECK(later.add == users({2}));
    CHECK(b.holders == std::set<std::string>{user(0), user(2)});
    // The new holder is protected for min_hold_ms too.
    b.planner.set_activity(user(1), 100, k_t0 + 2 * k_hour + 40 * k_minute);
    CHECK(b.planner.plan(k_t0 + 2 * k_hour + 50 * k_minute).add.empty());
    auto const back = b.planner.plan(k_t0 + 3 * k_hour);
    CHECK(back.drop == users({2}));
    CHECK(back.add == users({1}));
}

TEST_CASE("planner: free places are filled without hysteresis, and a holder nobody needs the place of stays",
          "[planner]") {
    auto s = settings(PlanMode::hybrid, 4);
    s.min_activity = 1.0;
    s.min_hold_ms = 0;
    Bed b(s);
    for (int i = 0; i < 4; ++i) {
        b.planner.connect(user(i), k_t0);
    }
    b.planner.set_activity(user(0), 100, k_t0);
    b.planner.set_activity(user(1), 0.2, k_t0);  // below min_activity, but holds
    b.planner.set_activity(user(2), 1.1, k_t0);
    b.planner.set_activity(user(3), 0.9, k_t0);
    b.apply(Plan{{user(0), user(1)}, {}}, k_t0);
    auto const p = b.step(k_t0);
    CHECK(p.add == users({2}));  // far below the holders, but the place is free
    CHECK(p.drop.empty());
    CHECK(b.converge(k_t0, 3, 20) == 0);
    CHECK(b.holders.contains(user(1)));  // user 3 (0.9) is below min_activity: nobody wants its place
    // Someone with enough activity does take it.
    b.planner.set_activity(user(3), 1.0, k_t0);
    auto const q = b.step(k_t0);
    CHECK(q.drop == users({1}));
    CHECK(q.add == users({3}));
}

TEST_CASE("planner: disconnected holders go first, then those over the budget, then swaps", "[planner]") {
    auto s = settings(PlanMode::hybrid, 4);
    s.min_hold_ms = 0;
    Bed b(s);
    for (int i = 0; i < 5; ++i) {
        b.planner.connect(user(i), k_t0);
    }
    std::vector<double> const activity{50, 40, 1, 100, 90};
    for (int i = 0; i < 5; ++i) {
        b.planner.set_activity(user(i), activity[static_cast<std::size_t>(i)], k_t0);
    }
    b.apply(Plan{users({0, 1, 2}), {}}, k_t0);
    b.planner.disconnect(user(0));
    auto const p = b.step(k_t0);
    CHECK(p.drop == users({0, 2}));  // the disconnected one, then the weakest for the swap
    CHECK(p.add == users({3, 4}));   // the free place first, then the challenger
    CHECK(b.holders == std::set<std::string>{user(1), user(3), user(4)});

    // Disconnected holders the writes do not reach still take their places: nothing is added past the budget.
    auto t = settings(PlanMode::per_user, 5);
    t.max_writes = 2;
    Bed c(t);
    for (int i = 0; i < 8; ++i) {
        c.planner.connect(user(i), k_t0 + i);
    }
    c.apply(Plan{users({0, 1, 2, 3}), {}}, k_t0);
    for (int i = 0; i < 3; ++i) {
        c.planner.disconnect(user(i));
    }
    auto const q = c.step(k_t0);
    CHECK(q.drop == users({0, 1}));
    CHECK(q.add.empty());
    auto const r = c.step(k_t0);
    CHECK(r.drop == users({2}));
    CHECK(r.add == users({4}));
    CHECK(c.converge(k_t0, 4, 2) == 1);
    CHECK(c.holders == std::set<std::string>{user(3), user(4), user(5), user(6)});
}

TEST_CASE("planner: a plan asks for at most max_writes changes, swaps whole, and repeated plans converge",
          "[planner]") {
    auto s = settings(PlanMode::hybrid, 51);
    s.max_writes = 5;
    s.min_hold_ms = 10 * k_minute;
    Bed b(s);
    std::mt19937 rng(7);
    for (int i = 0; i < 200; ++i) {
        b.planner.connect(user(i), k_t0);
        b.planner.set_activity(user(i), 2.0 + static_cast<double>(rng() % 1000), k_t0);
    }
    CHECK(b.converge(k_t0, 50, 5) == 10);
    CHECK(b.holders.size() == 50);
    auto const weakest = [&] {
        double w = 1e18;
        for (auto const& h : b.holders) {
            w = std::min(w, b.planner.activity(h, k_t0));
        }
        return w;
    };
    for (int i = 0; i < 200; ++i) {
        if (!b.holders.contains(user(i))) {
            CHECK(b.planner.activity(user(i), k_t0) <= weakest());
        }
    }

    // Activity moves to 30 others: only swaps, two a plan (a fifth write would split one), once the holders have
    // held min_hold_ms.
    std::set<std::string> busy;
    for (int i = 0; busy.size() < 30; ++i) {
        if (!b.holders.contains(user(i))) {
            b.planner.credit(user(i), 5000, k_t0);
            busy.insert(user(i));
        }
    }
    CHECK(b.planner.plan(k_t0 + 5 * k_minute).add.empty());
    auto const now = k_t0 + 10 * k_minute;
    auto const first = b.planner.plan(now);
    CHECK(first.add.size() == 2);
    CHECK(first.drop.size() == 2);
    CHECK(b.converge(now, 50, 5) == 15);
    for (auto const& u : busy) {
        CHECK(b.holders.contains(u));
    }
}

TEST_CASE("planner: a quota refusal shrinks the budget to what the bridge owns, and it grows back one per period",
          "[planner]") {
    auto s = settings(PlanMode::hybrid, 10);
    s.regrow_after_ms = k_hour;
    s.min_activity = 0;
    Bed b(s);
    for (int i = 0; i < 12; ++i) {
        b.planner.connect(user(i), k_t0);
        b.planner.set_activity(user(i), 100.0 - i, k_t0);
    }
    CHECK(b.planner.budget(k_t0) == 10);
    CHECK(b.converge(k_t0, 9, 20) == 1);
    CHECK(b.holders.size() == 9);

    // Graph refused one while the bridge owned 6 (the global subscription included): the four weakest holders go.
    b.planner.quota_refused(6, k_t0);
    CHECK(b.planner.budget(k_t0) == 6);
    CHECK(b.planner.budget(k_t0 + 59 * k_minute) == 6);
    auto const p = b.step(k_t0);
    CHECK(p.drop == users({8, 7, 6, 5}));
    CHECK(p.add.empty());
    CHECK(b.holders.size() == 5);

    // One more per hour, up to the configured budget.
    CHECK(b.planner.budget(k_t0 + k_hour) == 7);
    CHECK(b.step(k_t0 + k_hour).add == users({5}));
    CHECK(b.planner.budget(k_t0 + 2 * k_hour + 30 * k_minute) == 8);
    CHECK(b.planner.budget(k_t0 + 4 * k_hour) == 10);
    CHECK(b.planner.budget(k_t0 + 40 * k_hour) == 10);
    CHECK(b.converge(k_t0 + 4 * k_hour, 9, 20) == 1);
    CHECK(b.holders.size() == 9);

    // Never below the reserve; a refusal at or above the configured budget shrinks nothing.
    b.planner.quota_refused(0, k_t0 + 5 * k_hour);
    CHECK(b.planner.budget(k_t0 + 5 * k_hour) == 1);
    CHECK(b.planner.budget(k_t0 + 6 * k_hour) == 2);
    b.planner.quota_refused(10, k_t0 + 6 * k_hour);
    CHECK(b.planner.budget(k_t0 + 6 * k_hour) == 10);

    // Per-user mode gives back those who connected last.
    auto t = settings(PlanMode::per_user, 5);
    Bed c(t);
    for (int i = 0; i < 4; ++i) {
        c.planner.connect(user(i), k_t0 + i);
    }
    CHECK(c.converge(k_t0, 4, 20) == 1);
    c.planner.quota_refused(3, k_t0);
    CHECK(c.step(k_t0).drop == users({3, 2}));
}

TEST_CASE("planner: explain tells an admin whether a user is rich and why", "[planner]") {
    auto s = settings(PlanMode::hybrid, 3);
    s.min_hold_ms = 0;
    Bed b(s);
    std::vector<double> const activity{12.4, 0.3, 5, 2.2, 3};
    for (int i = 0; i < 5; ++i) {
        b.planner.connect(user(i), k_t0 + i);
        b.planner.set_activity(user(i), activity[static_cast<std::size_t>(i)], k_t0);
    }
    CHECK(b.planner.explain(user(9), k_t0) == "not connected");
    CHECK(b.planner.explain(user(2), k_t0) ==
          "on the global subscription for now: activity 5.0 (rank 2 of 5 connected); the next plan gives them one "
          "(budget 2 rich of 3, 0 in use)");
    b.apply(Plan{users({0, 3}), {}}, k_t0);
    CHECK(b.planner.explain(user(0), k_t0) ==
          "has a rich subscription: activity 12.4 (rank 1 of 5 connected), budget 2 rich of 3");
    CHECK(b.planner.explain(user(1), k_t0) ==
          "on the global subscription: activity 0.3 (rank 5 of 5 connected); a rich subscription needs activity ≥ "
          "1.0 (budget 2 rich of 3)");
    CHECK(b.planner.explain(user(4), k_t0) ==
          "on the global subscription: activity 3.0 (rank 3 of 5 connected); the 2 rich subscriptions go to activity "
          "≥ 2.2, and taking one needs more than 3.3 (1.5 times the weakest holder's; budget 2 rich of 3)");
    CHECK(b.planner.explain(user(2), k_t0) ==
          "on the global subscription for now: activity 5.0 (rank 2 of 5 connected); busy enough to take the place "
          "of the weakest holder (activity 2.2) at a coming plan (budget 2 rich of 3)");
    b.planner.quota_refused(2, k_t0);
    CHECK(b.planner.explain(user(0), k_t0) ==
          "has a rich subscription: activity 12.4 (rank 1 of 5 connected), budget 1 rich of 2 (shrunk from 3 after "
          "Microsoft Graph refused one for the organization's quota)");
    b.planner.disconnect(user(0));
    CHECK(b.planner.explain(user(0), k_t0) == "not connected (their rich subscription goes at the next plan)");

    Bed c(settings(PlanMode::per_user, 3));
    for (int i = 0; i < 4; ++i) {
        c.planner.connect(user(i), k_t0 + i);
    }
    c.apply(Plan{users({0, 1}), {}}, k_t0);
    CHECK(c.planner.explain(user(1), k_t0) ==
          "has a rich subscription: 2nd to connect of the 4 connected, budget 2 rich of 3");
    CHECK(c.planner.explain(user(3), k_t0) ==
          "on the global subscription: the budget is full (per-user mode gives them in the order users connected): "
          "4th to connect of the 4 connected, budget 2 rich of 3");
    c.planner.disconnect(user(1));
    c.step(k_t0);
    CHECK(c.planner.explain(user(3), k_t0) ==
          "on the global subscription: the budget is full (per-user mode gives them in the order users connected): "
          "3rd to connect of the 3 connected, budget 2 rich of 3");
}

TEST_CASE("planner: random connects, disconnects and credits keep the holders within the budget, and converge",
          "[planner]") {
    auto const mode = GENERATE(PlanMode::per_user, PlanMode::hybrid);
    auto s = settings(mode, 21);
    s.max_writes = 6;
    s.min_hold_ms = 5 * k_minute;
    s.half_life_ms = k_hour;
    Bed b(s);
    std::mt19937 rng(12345);
    std::set<std::string> connected;
    auto now = k_t0;
    for (int round = 0; round < 3000; ++round) {
        now += 1000 * static_cast<std::int64_t>(rng() % 30);
        auto const who = user(static_cast<int>(rng() % 120));
        auto const what = rng() % 10;
        if (what == 0) {
            b.planner.disconnect(who);
            connected.erase(who);
        } else if (what <= 2) {
            b.planner.connect(who, now);
            connected.insert(who);
        } else {
            b.planner.credit(who, static_cast<double>(1 + rng() % 20), now);
        }
        if (round % 7 == 0) {
            auto const p = b.step(now);
            CHECK(p.add.size() + p.drop.size() <= s.max_writes);
            CHECK(b.holders.size() <= 20);
        }
        REQUIRE(b.planner.connected_count() == connected.size());
    }
    // Once the events stop, the plans converge: every holder connected, and no place left free that someone
    // eligible could have (per-user: anyone connected; hybrid: activity of min_activity or more).
    now += 10 * k_minute;
    CHECK(b.converge(now, 20, s.max_writes) >= 0);
    std::size_t eligible = 0;
    for (auto const& u : connected) {
        eligible += mode == PlanMode::per_user || b.planner.activity(u, now) >= s.min_activity ? 1 : 0;
    }
    for (auto const& h : b.holders) {
        CHECK(connected.contains(h));
    }
    CHECK(b.holders.size() <= 20);
    CHECK(b.holders.size() >= std::min<std::size_t>(20, eligible));
    if (mode == PlanMode::per_user) {
        CHECK(b.holders.size() == std::min<std::size_t>(20, connected.size()));
    }
}
