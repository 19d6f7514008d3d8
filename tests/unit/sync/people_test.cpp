#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "../fake_api.hpp"
#include "fakes/memory_store.hpp"
#include "test_ids.hpp"
#include "store/repositories.hpp"
#include "sync/people.hpp"

using msteams::Result;
using msteams::sync::People;
using msteams::sync::TeamsProfile;
using msteams::test::teams_user;

namespace {

// Graph's directory as People reads it, counted; the in-memory store; a fake Mattermost.
struct World {
    msteams::test::MemoryStore store;
    msteams::store::Repositories repos = store.repos;
    std::shared_ptr<msteams::test::FakeApi> api = std::make_shared<msteams::test::FakeApi>();
    std::shared_ptr<msteams::metrics::Counters> stats = std::make_shared<msteams::metrics::Counters>();
    std::map<std::string, TeamsProfile> directory;
    int reads = 0;
    std::vector<std::string> created;    // on_synthetic_created calls
    std::int64_t clock = 1'000'000'000;  // the wall clock People sees (Unix ms)

    std::unique_ptr<People> people(bool sync_guests = false) {
        auto p = std::make_unique<People>(
            api, repos, msteams::sync::PeopleSettings{sync_guests, [this] { return clock; }},
            [this](std::string const& id) -> Result<TeamsProfile> {
                ++reads;
                if (auto it = directory.find(id); it != directory.end()) {
                    return it->second;
                }
                return msteams::fail(msteams::ErrorCode::not_found, "no such user");
            },
            stats);
        p->on_synthetic_created([this](msteams::TeamsUserId const& teams_id, msteams::MmUserId const&) {
            created.push_back(teams_id.str());
        });
        return p;
    }
};

}  // namespace

TEST_CASE("people: a Teams person becomes one synthetic user, made once, with a free username", "[sync]") {
    World w;
    w.directory["t-1"] = TeamsProfile{teams_user("t-1"), "Adele Vance", "adele@contoso.example", false};
    w.directory["t-2"] = TeamsProfile{teams_user("t-2"), "Adele Vance", "adele.v@contoso.example", false};
    auto people = w.people();

    auto const first = people->mm_user_for(TeamsProfile{teams_user("t-1"), "", "", false});
    REQUIRE(first.has_value());
    REQUIRE(first->has_value());
    auto const& user = w.api->users.at((*first)->str());
    CHECK(user.username == "msteams_adele.vance");
    CHECK(user.position == "Microsoft Teams");
    CHECK(user.notify_props.at("email") == "false");
    CHECK(w.created == std::vector<std::string>{"t-1"});

    // Known now: no Graph read, no second user, no second callback.
    auto const again = people->mm_user_for(TeamsProfile{teams_user("t-1"), "", "", false});
    REQUIRE(again.has_value());
    CHECK(*again == *first);
    CHECK(w.reads == 1);
    CHECK(w.created.size() == 1);

    // Same display name, another person: the username gets a suffix.
    auto const other = people->mm_user_for(TeamsProfile{teams_user("t-2"), "", "", false});
    REQUIRE(other.has_value());
    REQUIRE(other->has_value());
    CHECK(w.api->users.at((*other)->str()).username == "msteams_adele.vance-2");
    CHECK(w.stats->synthetic_users_created == 2);
}

TEST_CASE("people: an existing Mattermost user with the same email is that person, not a synthetic user", "[sync]") {
    World w;
    msteams::mm::User existing;
    existing.username = "megan";
    existing.email = "megan@contoso.example";
    auto const made = w.api->create_user(existing, "pw");
    REQUIRE(made.has_value());
    auto people = w.people();
    // A full profile needs no Graph read.
    auto const user =
        people->mm_user_for(TeamsProfile{teams_user("t-megan"), "Megan Bowen", "megan@contoso.example", false});
    REQUIRE(user.has_value());
    REQUIRE(user->has_value());
    CHECK(**user == made->id);
    CHECK(w.reads == 0);
    CHECK(w.created.empty());
    auto const row = w.repos.users->by_teams_id(teams_user("t-megan"));
    REQUIRE((row.has_value() && row->has_value()));
    CHECK_FALSE((*row)->synthetic);
}

TEST_CASE("people: a guest is nobody in Mattermost unless guests are synced — not an error", "[sync]") {
    World w;
    w.directory["t-guest"] = TeamsProfile{teams_user("t-guest"), "Gita Guest", "gita@fabrikam.example", true};
    auto people = w.people();
    auto const skipped = people->mm_user_for(TeamsProfile{teams_user("t-guest"), "", "", false});
    REQUIRE(skipped.has_value());
    CHECK_FALSE(skipped->has_value());
    CHECK(w.api->users.empty());

    auto synced = w.people(true);
    auto const user = synced->mm_user_for(TeamsProfile{teams_user("t-guest"), "", "", false});
    REQUIRE(user.has_value());
    CHECK(user->has_value());

    // An unknown Teams user is an error the caller sees (retried later), not a skip.
    auto const unknown = people->mm_user_for(TeamsProfile{teams_user("t-nobody"), "", "", false});
    CHECK_FALSE(unknown.has_value());
}

TEST_CASE("people: a Mattermost user who never connected is the Teams member with the same email, or nobody",
          "[sync]") {
    World w;
    // Graph reads a user by id or by user principal name; here the UPN is the email.
    w.directory["nestor@contoso.example"] =
        TeamsProfile{teams_user("t-nestor"), "Nestor Wilke", "nestor@contoso.example", false};
    w.directory["pat@contoso.example"] = TeamsProfile{teams_user("t-pat"), "Pat", "patricia@contoso.example", false};
    w.directory["gita@contoso.example"] = TeamsProfile{teams_user("t-gita"), "Gita", "gita@contoso.example", true};
    auto make = [&](std::string const& name, std::string const& email, bool bot = false) {
        msteams::mm::User u;
        u.username = name;
        u.email = email;
        u.is_bot = bot;
        return w.api->create_user(u, "pw").value().id;
    };
    auto const nestor = make("nestor", "nestor@contoso.example");
    auto const pat = make("pat", "pat@contoso.example");     // the UPN is hers, the email another's
    auto const gita = make("gita", "gita@contoso.example");  // a guest in Teams
    auto const robot = make("robot", "nestor@contoso.example", true);
    auto const nobody = make("nobody", "nobody@contoso.example");
    auto people = w.people();

    auto const found = people->teams_user_for(nestor);
    REQUIRE(found.has_value());
    CHECK(*found == std::optional(teams_user("t-nestor")));
    // Remembered: the next asks read neither Graph nor Mattermost.
    int const reads = w.reads;
    CHECK(people->teams_user_for(nestor).value() == std::optional(teams_user("t-nestor")));
    CHECK(w.reads == reads);
    auto const row = w.repos.users->by_mm_id(nestor);
    REQUIRE((row.has_value() && row->has_value()));
    CHECK((*row)->teams_user_id == teams_user("t-nestor"));
    CHECK_FALSE((*row)->synthetic);

    for (auto const& id : {pat, gita, robot, nobody}) {
        INFO(w.api->users.at(id.str()).username);
        auto const none = people->teams_user_for(id);
        REQUIRE(none.has_value());
        CHECK_FALSE(none->has_value());
    }
    // Nobody is remembered as nobody for a while: no second Graph read.
    int const after = w.reads;
    CHECK_FALSE(people->teams_user_for(nobody).value().has_value());
    CHECK(w.reads == after);
}

TEST_CASE("people: a mention's username is read again after five minutes, so a promotion or rename shows", "[sync]") {
    World w;
    w.directory["t-1"] = TeamsProfile{teams_user("t-1"), "Adele Vance", "adele@contoso.example", false};
    auto people = w.people();
    auto const made = people->mm_user_for(TeamsProfile{teams_user("t-1"), "", "", false});
    REQUIRE((made.has_value() && made->has_value()));
    auto& user = w.api->users.at((*made)->str());
    std::string const synthetic = user.username;
    CHECK(people->username_for(teams_user("t-1")) == std::optional(synthetic));

    user.username = "adele";  // an admin promoted the synthetic user (on this node or another)
    w.clock += 4 * 60'000;
    CHECK(people->username_for(teams_user("t-1")) == std::optional(synthetic));  // remembered for a while
    w.clock += 60'000;
    CHECK(people->username_for(teams_user("t-1")) == std::optional<std::string>("adele"));
}
