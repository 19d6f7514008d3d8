// The subscription planner over a simulated tenant, no Mattermost and no Graph: which share of the messages a
// budget of rich per-user subscriptions delivers rich, what the rest costs in Graph GETs, how many subscription writes
// the plans ask for, what plan() costs in CPU and what the planner's state costs in memory.
//
//   build/planner_sim [--users 100000] [--hours 24] [--rate 200] [--budget 9000] [--mode hybrid|per-user] [--seed 1]
//                     [--hourly]
//   build/planner_sim --rss-only [--users 10000]
//
// The tenant: users/2 one-on-one chats and users/10 group chats of 3 to 8 members, members drawn with a skew (some
// people are in many chats); chat message rates Zipf-like (exponent 1.1) summing to --rate messages a second; every
// 4 simulated hours the ranks of 20% of the chats are drawn again. Every user is connected (in a random order). The
// clock steps a second at a time: each tick's messages are a Poisson draw for the tenant, each placed in a chat by
// the Zipf CDF; every member of a message's chat is credited, and plan() runs every 30 simulated seconds, its plan
// applied at once. A message is delivered rich when a member of its chat holds a rich subscription, else it costs
// a Graph GET (the global subscription).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <numeric>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "subscriptions/planner.hpp"

namespace {

using msteams::subscriptions::PlanMode;
using msteams::subscriptions::Planner;
using msteams::subscriptions::PlannerSettings;

constexpr std::int64_t k_t0 = 1'800'000'000'000;  // the simulated clock's start (ms)
constexpr std::int64_t k_tick_ms = 1000;
constexpr std::int64_t k_plan_every_ms = 30 * 1000;
constexpr std::int64_t k_shift_every_ms = 4LL * 3600 * 1000;
constexpr std::int64_t k_hour_ms = 3600LL * 1000;
constexpr double k_zipf = 1.1;
constexpr double k_shift_share = 0.2;

struct Options {
    std::size_t users = 100000;
    double hours = 24;
    double rate = 200;
    std::size_t budget = 9000;
    PlanMode mode = PlanMode::hybrid;
    std::uint64_t seed = 1;
    bool rss_only = false;
    bool hourly = false;
};

[[noreturn]] void usage(char const* why) {
    std::fprintf(stderr,
                 "planner_sim: %s\nusage: planner_sim [--users N] [--hours H] [--rate MSG_PER_S] [--budget N] "
                 "[--mode hybrid|per-user] [--seed N] [--hourly] | --rss-only [--users N]\n",
                 why);
    std::exit(2);
}

Options parse(int argc, char** argv) {
    Options o;
    bool users_given = false;
    for (int i = 1; i < argc; ++i) {
        std::string_view const flag = argv[i];
        if (flag == "--rss-only" || flag == "--hourly") {
            (flag == "--rss-only" ? o.rss_only : o.hourly) = true;
            continue;
        }
        if (i + 1 >= argc) {
            usage("a flag without its value");
        }
        std::string const value = argv[++i];
        if (flag == "--users") {
            o.users = std::stoul(value);
            users_given = true;
        } else if (flag == "--hours") {
            o.hours = std::stod(value);
        } else if (flag == "--rate") {
            o.rate = std::stod(value);
        } else if (flag == "--budget") {
            o.budget = std::stoul(value);
        } else if (flag == "--seed") {
            o.seed = std::stoull(value);
        } else if (flag == "--mode") {
            if (value != "hybrid" && value != "per-user") {
                usage("--mode is hybrid or per-user");
            }
            o.mode = value == "hybrid" ? PlanMode::hybrid : PlanMode::per_user;
        } else {
            usage("unknown flag");
        }
    }
    if (o.rss_only && !users_given) {
        o.users = 10000;
    }
    if (o.users < 10) {
        usage("--users is at least 10");
    }
    return o;
}

// The process's resident set now (VmRSS), in MiB.
double rss_now_mib() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.starts_with("VmRSS:")) {
            return std::strtod(line.c_str() + 6, nullptr) / 1024.0;
        }
    }
    return -1;
}

// Its peak (ru_maxrss), in MiB. The kernel updates the high-water mark lazily, so it can lag the RSS just read: the
// larger of the two.
double rss_peak_mib() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return std::max(static_cast<double>(u.ru_maxrss) / 1024.0, rss_now_mib());
}

std::uint64_t splitmix(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30U)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27U)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31U);
}

// A Teams user id as Graph spells them: a GUID (36 characters, beyond the short-string buffer, as in production).
std::string teams_id(std::size_t i) {
    auto const a = splitmix(i);
    auto const b = splitmix(a);
    char buf[40];
    std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(a >> 32U),
                  static_cast<unsigned>((a >> 16U) & 0xffffU), static_cast<unsigned>(a & 0xfffU),
                  static_cast<unsigned>(0x8000U | ((b >> 48U) & 0x3fffU)),
                  static_cast<unsigned long long>(b & 0xffffffffffffULL));
    return buf;
}

struct Tenant {
    std::vector<std::string> ids;             // by user index
    std::vector<std::uint32_t> member_start;  // chat c's members: members[member_start[c], member_start[c + 1])
    std::vector<std::uint32_t> members;       // user indexes
    std::vector<std::uint32_t> rank;          // chat c's place in the Zipf order (0: the busiest)
    std::vector<double> cdf;                  // cumulative message share, by chat
    std::size_t one_on_one = 0;
    std::size_t groups = 0;
};

// A member drawn with a skew: index n·u², so the first 1% of the users are in a tenth of the memberships.
std::uint32_t skewed_member(std::mt19937_64& rng, std::size_t users) {
    auto const u = std::uniform_real_distribution<double>(0, 1)(rng);
    return static_cast<std::uint32_t>(
        std::min<double>(static_cast<double>(users - 1), u * u * static_cast<double>(users)));
}

void add_chat(Tenant& t, std::mt19937_64& rng, std::size_t size) {
    auto const first = t.members.size();
    while (t.members.size() - first < size) {
        auto const m = skewed_member(rng, t.ids.size());
        if (std::find(t.members.begin() + static_cast<std::ptrdiff_t>(first), t.members.end(), m) == t.members.end()) {
            t.members.push_back(m);
        }
    }
    t.member_start.push_back(static_cast<std::uint32_t>(t.members.size()));
}

void build_cdf(Tenant& t) {
    t.cdf.resize(t.rank.size());
    double sum = 0;
    for (std::size_t c = 0; c < t.rank.size(); ++c) {
        sum += std::pow(static_cast<double>(t.rank[c]) + 1, -k_zipf);
        t.cdf[c] = sum;
    }
    for (auto& v : t.cdf) {
        v /= sum;
    }
}

Tenant make_tenant(std::size_t users, std::mt19937_64& rng) {
    Tenant t;
    t.ids.reserve(users);
    for (std::size_t i = 0; i < users; ++i) {
        t.ids.push_back(teams_id(i));
    }
    t.one_on_one = users / 2;
    t.groups = users / 10;
    t.member_start.push_back(0);
    for (std::size_t c = 0; c < t.one_on_one; ++c) {
        add_chat(t, rng, 2);
    }
    std::uniform_int_distribution<std::size_t> group_size(3, 8);
    for (std::size_t c = 0; c < t.groups; ++c) {
        add_chat(t, rng, group_size(rng));
    }
    t.rank.resize(t.one_on_one + t.groups);
    std::iota(t.rank.begin(), t.rank.end(), 0U);
    std::shuffle(t.rank.begin(), t.rank.end(), rng);
    build_cdf(t);
    return t;
}

// Activity shifts: the ranks of a share of the chats, drawn at random, are dealt out again among them.
void shift(Tenant& t, std::mt19937_64& rng) {
    auto const n = t.rank.size();
    auto const k = static_cast<std::size_t>(static_cast<double>(n) * k_shift_share);
    std::vector<std::uint32_t> chats(n);
    std::iota(chats.begin(), chats.end(), 0U);
    for (std::size_t i = 0; i < k; ++i) {
        std::swap(chats[i], chats[std::uniform_int_distribution<std::size_t>(i, n - 1)(rng)]);
    }
    std::vector<std::uint32_t> ranks(k);
    for (std::size_t i = 0; i < k; ++i) {
        ranks[i] = t.rank[chats[i]];
    }
    std::shuffle(ranks.begin(), ranks.end(), rng);
    for (std::size_t i = 0; i < k; ++i) {
        t.rank[chats[i]] = ranks[i];
    }
    build_cdf(t);
}

struct Stats {
    std::uint64_t messages = 0;
    std::uint64_t rich = 0;
    std::uint64_t rich_copies = 0;
    std::uint64_t messages_late = 0;  // after the first 4 hours (the planner warmed up)
    std::uint64_t rich_late = 0;
    std::size_t owned_min = SIZE_MAX;
    std::size_t owned_max = 0;
    std::size_t owned_end = 0;
    std::vector<std::uint64_t> writes_by_hour;
    std::vector<std::uint64_t> messages_by_hour;
    std::vector<std::uint64_t> rich_by_hour;
    std::vector<std::size_t> owned_by_hour;  // at the hour's end
    std::uint64_t plans = 0;
    double plan_ms_sum = 0;
    double plan_ms_max = 0;
};

class Simulation {
public:
    Simulation(Options const& o, Tenant& t, std::mt19937_64& rng)
        : o_(o),
          t_(t),
          rng_(rng),
          planner_(settings(o)),
          holds_(t.ids.size(), 0),
          count_(t.rank.size(), 0) {
        index_.reserve(t.ids.size());
        for (std::uint32_t i = 0; i < t.ids.size(); ++i) {
            index_.emplace(t.ids[i], i);
        }
        // Everyone connected, in a random order (unrelated to how busy they are).
        std::vector<std::uint32_t> order(t.ids.size());
        std::iota(order.begin(), order.end(), 0U);
        std::shuffle(order.begin(), order.end(), rng_);
        for (std::size_t i = 0; i < order.size(); ++i) {
            planner_.connect(t.ids[order[i]], k_t0 - static_cast<std::int64_t>(order.size() - i));
        }
    }

    static PlannerSettings settings(Options const& o) {
        PlannerSettings s;
        s.mode = o.mode;
        s.budget = o.budget;
        return s;
    }

    Stats run() {
        auto const end = k_t0 + static_cast<std::int64_t>(o_.hours * static_cast<double>(k_hour_ms));
        auto const hours = static_cast<std::size_t>(std::ceil(o_.hours));
        s_.writes_by_hour.assign(hours, 0);
        s_.messages_by_hour.assign(hours, 0);
        s_.rich_by_hour.assign(hours, 0);
        s_.owned_by_hour.assign(hours, 0);
        note_owned(0);
        for (auto now = k_t0; now < end; now += k_tick_ms) {
            auto const hour = static_cast<std::size_t>((now - k_t0) / k_hour_ms);
            if (now > k_t0 && (now - k_t0) % k_shift_every_ms == 0) {
                shift(t_, rng_);
            }
            tick(now, hour);
            if ((now - k_t0) % k_plan_every_ms == 0) {
                plan(now, hour);
            }
        }
        s_.owned_end = planner_.holding_count() + 1;
        return s_;
    }

private:
    void note_owned(std::size_t hour) {
        auto const owned = planner_.holding_count() + 1;  // the global subscription included
        s_.owned_min = std::min(s_.owned_min, owned);
        s_.owned_max = std::max(s_.owned_max, owned);
        if (hour < s_.owned_by_hour.size()) {
            s_.owned_by_hour[hour] = owned;
        }
    }

    // One tick's messages: a Poisson draw for the tenant, each in a chat drawn by the Zipf CDF; then each chat's
    // members are credited once with its count.
    void tick(std::int64_t now, std::size_t hour) {
        auto const n = std::poisson_distribution<std::uint64_t>(o_.rate * (k_tick_ms / 1000.0))(rng_);
        std::uniform_real_distribution<double> u(0, 1);
        for (std::uint64_t i = 0; i < n; ++i) {
            auto const c =
                static_cast<std::size_t>(std::upper_bound(t_.cdf.begin(), t_.cdf.end(), u(rng_)) - t_.cdf.begin());
            auto const chat = std::min(c, t_.cdf.size() - 1);
            if (count_[chat]++ == 0) {
                touched_.push_back(static_cast<std::uint32_t>(chat));
            }
        }
        for (auto const chat : touched_) {
            auto const m = count_[chat];
            count_[chat] = 0;
            std::uint64_t holders = 0;
            for (auto j = t_.member_start[chat]; j < t_.member_start[chat + 1]; ++j) {
                auto const member = t_.members[j];
                holders += holds_[member];
                planner_.credit(t_.ids[member], static_cast<double>(m), now);
            }
            s_.messages += m;
            s_.messages_by_hour[hour] += m;
            s_.messages_late += now - k_t0 >= k_shift_every_ms ? m : 0;
            if (holders > 0) {
                s_.rich += m;
                s_.rich_by_hour[hour] += m;
                s_.rich_copies += m * holders;
                s_.rich_late += now - k_t0 >= k_shift_every_ms ? m : 0;
            }
        }
        touched_.clear();
    }

    void plan(std::int64_t now, std::size_t hour) {
        auto const started = std::chrono::steady_clock::now();
        auto const p = planner_.plan(now);
        auto const ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
        ++s_.plans;
        s_.plan_ms_sum += ms;
        s_.plan_ms_max = std::max(s_.plan_ms_max, ms);
        for (auto const& id : p.drop) {
            planner_.held(id, false, now);
            holds_[index_.at(id)] = 0;
        }
        for (auto const& id : p.add) {
            planner_.held(id, true, now);
            holds_[index_.at(id)] = 1;
        }
        s_.writes_by_hour[hour] += p.add.size() + p.drop.size();
        note_owned(hour);
    }

    Options const& o_;
    Tenant& t_;
    std::mt19937_64& rng_;
    Planner planner_;
    std::unordered_map<std::string_view, std::uint32_t> index_;
    std::vector<std::uint8_t> holds_;   // by user index: holds a rich subscription
    std::vector<std::uint64_t> count_;  // this tick's messages, by chat
    std::vector<std::uint32_t> touched_;
    Stats s_;
};

double share(std::uint64_t part, std::uint64_t whole) {
    return whole == 0 ? 0 : static_cast<double>(part) / static_cast<double>(whole);
}

void report(Options const& o, Tenant const& t, Stats const& s, double rss_loaded, double wall_s) {
    auto const writes_max = *std::max_element(s.writes_by_hour.begin(), s.writes_by_hour.end());
    auto const writes_sum = std::accumulate(s.writes_by_hour.begin(), s.writes_by_hour.end(), std::uint64_t{0});
    std::printf("| planner simulation | %s |\n|---|---|\n", o.mode == PlanMode::hybrid ? "hybrid" : "per-user");
    std::printf("| users (all connected) | %zu |\n", t.ids.size());
    std::printf("| chats | %zu (%zu one-on-one, %zu groups of 3–8), %zu memberships |\n", t.rank.size(), t.one_on_one,
                t.groups, t.members.size());
    std::printf("| simulated | %.1f h at %.0f msg/s, 1 s ticks, plan() every 30 s, seed %llu |\n", o.hours, o.rate,
                static_cast<unsigned long long>(o.seed));
    std::printf("| budget | %zu (the global subscription included) |\n", o.budget);
    std::printf("| messages | %llu |\n", static_cast<unsigned long long>(s.messages));
    std::printf("| delivered rich | %.1f %% (after the first 4 h: %.1f %%) |\n", 100 * share(s.rich, s.messages),
                100 * share(s.rich_late, s.messages_late));
    std::printf("| Graph GETs per message | %.3f |\n", share(s.messages - s.rich, s.messages));
    std::printf("| rich copies per rich message (mean) | %.2f |\n", share(s.rich_copies, s.rich));
    std::printf("| subscriptions owned, min / max / at end | %zu / %zu / %zu |\n", s.owned_min, s.owned_max,
                s.owned_end);
    std::printf("| subscription writes per hour, mean / max hour | %.0f / %llu |\n",
                static_cast<double>(writes_sum) / static_cast<double>(s.writes_by_hour.size()),
                static_cast<unsigned long long>(writes_max));
    std::printf("| plan() ms, mean / max (%llu calls) | %.2f / %.2f |\n", static_cast<unsigned long long>(s.plans),
                s.plan_ms_sum / static_cast<double>(std::max<std::uint64_t>(s.plans, 1)), s.plan_ms_max);
    std::printf("| RSS after loading the users | %.1f MiB |\n", rss_loaded);
    std::printf("| peak RSS | %.1f MiB |\n", rss_peak_mib());
    std::printf("| wall time | %.1f s |\n", wall_s);
    if (o.hourly) {
        std::printf("\n| hour | messages | delivered rich | writes | owned at end |\n|---|---|---|---|---|\n");
        for (std::size_t h = 0; h < s.writes_by_hour.size(); ++h) {
            std::printf("| %zu | %llu | %.1f %% | %llu | %zu |\n", h,
                        static_cast<unsigned long long>(s.messages_by_hour[h]),
                        100 * share(s.rich_by_hour[h], s.messages_by_hour[h]),
                        static_cast<unsigned long long>(s.writes_by_hour[h]), s.owned_by_hour[h]);
        }
    }
}

// The planner's part of the core's memory: `users` connected users with activity, and one plan.
int rss_only(Options const& o) {
    auto const before = rss_now_mib();
    Planner planner(Simulation::settings(o));
    for (std::size_t i = 0; i < o.users; ++i) {
        auto const id = teams_id(i);
        planner.connect(id, k_t0 + static_cast<std::int64_t>(i));
        planner.credit(id, 1.0 + static_cast<double>(i % 50), k_t0);
    }
    auto const loaded = rss_now_mib();
    auto const started = std::chrono::steady_clock::now();
    auto const p = planner.plan(k_t0);
    auto const ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
    auto const planned = rss_now_mib();
    std::printf("| planner state | %s |\n|---|---|\n", o.mode == PlanMode::hybrid ? "hybrid" : "per-user");
    std::printf("| connected users with activity | %zu |\n", planner.connected_count());
    std::printf("| RSS before | %.1f MiB |\n", before);
    std::printf("| RSS with the users loaded | %.1f MiB (+%.1f MiB, %.0f bytes a user) |\n", loaded, loaded - before,
                (loaded - before) * 1024 * 1024 / static_cast<double>(o.users));
    std::printf("| RSS after one plan() (%zu adds, %.2f ms) | %.1f MiB |\n", p.add.size(), ms, planned);
    std::printf("| peak RSS | %.1f MiB |\n", rss_peak_mib());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    auto const o = parse(argc, argv);
    if (o.rss_only) {
        return rss_only(o);
    }
    auto const started = std::chrono::steady_clock::now();
    std::mt19937_64 rng(o.seed);
    auto tenant = make_tenant(o.users, rng);
    Simulation sim(o, tenant, rng);
    auto const rss_loaded = rss_now_mib();
    auto const stats = sim.run();
    report(o, tenant, stats, rss_loaded,
           std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    return 0;
}
