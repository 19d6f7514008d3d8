#pragma once

// What the pipelines (sync::Inbound, sync::Outbound) run against in unit tests: Mattermost (FakeApi, with direct
// and group channels and users), Teams (FakeTeams), the store (MemoryStore) and connections whose tokens FakeTeams
// accepts. No network, no PostgreSQL; workers are not started: tests drive run_once() and look at both sides.
#include <catch2/catch.hpp>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "fake_api.hpp"
#include "fakes/fake_teams.hpp"
#include "fakes/memory_store.hpp"
#include "metrics/counters.hpp"
#include "sync/logins.hpp"
#include "sync/people.hpp"

namespace msteams::test {

// Mattermost with users, direct and group channels, and posts that can be made to fail.
class PipelineApi final : public FakeApi {
public:
    PipelineApi() { clock = now_ms(); }  // posts carry wall-clock times, as in Mattermost
    Result<mm::User> get_user_by_username(std::string const& name) override {
        std::lock_guard lock(mutex);
        for (auto const& [_, u] : users) {
            if (u.username == name) {
                return u;
            }
        }
        return fail(ErrorCode::not_found, "no user", 404);
    }
    Result<mm::Channel> get_channel(MmChannelId const& id) override {
        std::lock_guard lock(mutex);
        if (!channels.contains(id.str())) {
            return fail(ErrorCode::not_found, "no channel", 404);
        }
        return channels[id.str()];
    }
    Result<mm::Channel> get_direct_channel(MmUserId const& user_a, MmUserId const& user_b) override {
        std::lock_guard lock(mutex);
        auto const& a = user_a.str();
        auto const& b = user_b.str();
        auto const id = std::min(a, b).substr(0, 12) + "__" + std::max(a, b).substr(0, 12);
        auto& ch = channels[id];
        if (ch.id.empty()) {
            ch.id = MmChannelId(id);
            ch.type = "D";
            channel_members[id] = {a, b};
        }
        return ch;
    }
    Result<mm::Channel> get_group_channel(std::vector<MmUserId> const& user_ids) override {
        auto ch = FakeApi::get_group_channel(user_ids);
        if (ch) {
            std::lock_guard lock(mutex);
            channels[ch->id.str()] = *ch;
        }
        return ch;
    }
    Result<std::vector<mm::Post>> get_posts_since(MmChannelId const& channel_id, std::int64_t since_ms) override {
        std::function<void()> before;
        {
            std::lock_guard lock(mutex);
            before = std::exchange(before_next_posts_since, {});
        }
        if (before) {
            before();
        }
        return FakeApi::get_posts_since(channel_id, since_ms);
    }
    Result<mm::Post> create_post(mm::Post const& post) override {
        if (post.message.find(refuse_posts_with) != std::string::npos && !refuse_posts_with.empty()) {
            return fail(ErrorCode::invalid_argument, "Mattermost refused the post", 400);
        }
        return FakeApi::create_post(post);
    }

    // A user with this id, username and email.
    void add_user(IdText const& user, std::string const& username) {
        std::string const& id = user;
        std::lock_guard lock(mutex);
        mm::User u;
        u.id = MmUserId(id);
        u.username = username;
        u.email = username + "@example.com";
        users[id] = u;
    }
    // The posts of a channel, oldest first, deleted ones included.
    std::vector<mm::Post> posts_in(IdText const& channel) {
        std::string const& channel_id = channel;
        std::lock_guard lock(mutex);
        std::vector<mm::Post> out;
        for (auto const& id : post_order) {
            if (posts[id].channel_id.str() == channel_id) {
                out.push_back(posts[id]);
            }
        }
        return out;
    }

    std::map<std::string, mm::Channel> channels;
    std::string refuse_posts_with;
    // Runs once, at the next listing of a channel's posts, before it answers (what happens meanwhile elsewhere).
    std::function<void()> before_next_posts_since;
};

// Connections over the store's accounts: a connected user's token is the one FakeTeams accepts for their Teams id.
class FakeConnections final : public sync::Connections {
public:
    explicit FakeConnections(std::shared_ptr<store::Accounts> accounts) : accounts_(std::move(accounts)) {}
    Result<std::optional<store::Account>> account(MmUserId const& mm_user_id) override {
        return accounts_->by_mm_user(mm_user_id);
    }
    Result<std::vector<MmUserId>> connected_users(std::size_t limit) override {
        return accounts_->connected_users(limit);
    }
    Result<std::string> access_token(MmUserId const& mm_user_id) override {
        std::optional<store::Account> a;
        MSTEAMS_TRY_ASSIGN(a, accounts_->by_mm_user(mm_user_id));
        if (!a || !a->connected()) {
            return fail(ErrorCode::permission_denied, "not connected to Teams");
        }
        return FakeTeams::token_for(a->teams_user_id);
    }

private:
    std::shared_ptr<store::Accounts> accounts_;
};

// Teams user ids are GUIDs (a one-on-one chat's id is made of its two members' ids).
inline std::string teams_id(char c) { return "00000000-0000-0000-0000-00000000000" + std::string(1, c); }
inline std::string one_on_one(std::string const& a, std::string const& b) {
    return "19:" + std::min(a, b) + "_" + std::max(a, b) + "@unq.gbl.spaces";
}

// Runs a pipeline's run_once until it has nothing ready (each run must succeed); returns how many runs did work.
template <class Run>
int run_until_idle(Run&& run) {
    int done = 0;
    while (done < 1000) {
        auto const ran = run();
        INFO((ran ? std::string() : ran.error().message));
        REQUIRE(ran.has_value());
        if (!*ran) {
            break;
        }
        ++done;
    }
    return done;
}

struct PipelineWorld {
    MemoryStore store;
    std::shared_ptr<PipelineApi> api = std::make_shared<PipelineApi>();
    std::shared_ptr<FakeTeams> teams = std::make_shared<FakeTeams>();
    std::shared_ptr<FakeConnections> connections = std::make_shared<FakeConnections>(store.repos.accounts);
    std::shared_ptr<metrics::Counters> stats = std::make_shared<metrics::Counters>();
    std::shared_ptr<sync::People> people = std::make_shared<sync::People>(
        api, store.repos, sync::PeopleSettings{},
        [](std::string const& id) -> Result<sync::TeamsProfile> {
            return sync::TeamsProfile{TeamsUserId(id), "Teams " + id.substr(id.size() - 1),
                                      "teams-" + id + "@example.com", false};
        },
        stats);

    // A Mattermost user connected to a Teams account.
    void connect(IdText const& mm_user, std::string const& username, IdText const& teams_user) {
        std::string const& mm_user_id = mm_user;
        std::string const& teams_user_id = teams_user;
        api->add_user(mm_user_id, username);
        store::Account a;
        a.mm_user_id = MmUserId(mm_user_id);
        a.teams_user_id = TeamsUserId(teams_user_id);
        a.teams_email = username + "@example.com";
        a.token_sealed = "sealed";
        a.connected_at = 1;
        REQUIRE(store.repos.accounts->connect(a, 100).has_value());
    }
    // Every inbox and outbox item is due now (their retry delays run on the wall clock).
    void make_due() {
        store.with([](MemoryTables& t) {
            for (auto& q : t.inbox) {
                q.not_before = 0;
            }
            for (auto& s : t.outbox) {
                s.not_before = 0;
            }
        });
    }
};

}  // namespace msteams::test
