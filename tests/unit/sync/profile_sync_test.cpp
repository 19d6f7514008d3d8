#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "../fake_api.hpp"
#include "../store/pg_support.hpp"
#include "store/repositories.hpp"
#include "store/profiles.hpp"
#include "sync/profile_sync.hpp"

using msteams::ErrorCode;
using msteams::fail;
using msteams::Result;
using msteams::graph::Presence;
using msteams::sync::ProfileSync;
using msteams::sync::ProfileSyncSettings;
using msteams::test::TempDatabase;

namespace {

// A small tenant: Graph's answers for photos and presence, counted; synthetic users in a real database.
struct World {
    TempDatabase temp;
    std::shared_ptr<msteams::store::Database> db = temp.open_migrated();
    std::shared_ptr<msteams::test::FakeApi> api = std::make_shared<msteams::test::FakeApi>();
    std::shared_ptr<msteams::metrics::Counters> stats = std::make_shared<msteams::metrics::Counters>();
    std::map<std::string, std::string> photos;        // Teams user id → photo bytes
    std::map<std::string, std::string> availability;  // Teams user id → availability
    int photo_reads = 0;
    std::vector<std::size_t> presence_requests;  // ids per request
    ErrorCode presence_error{};
    bool presence_fails = false;
    std::int64_t now = 1'800'000'000'000;  // 2027

    void synthetic(std::string const& teams_id, std::string const& mm_id) {
        auto const repos = msteams::store::postgres_repositories(db);
        REQUIRE(repos.users
                    ->add({msteams::TeamsUserId(teams_id), msteams::MmUserId(mm_id), true, teams_id,
                           teams_id + "@example.com", 1, 0})
                    .has_value());
        api->users[mm_id].id = msteams::MmUserId(mm_id);
    }

    std::unique_ptr<ProfileSync> sync(ProfileSyncSettings settings = {}) {
        settings.clock_ms = [this] { return now; };
        msteams::sync::PhotoReader read_photo =
            [this](msteams::TeamsUserId const& id) -> Result<std::optional<std::string>> {
            ++photo_reads;
            auto const it = photos.find(id.str());
            return it == photos.end() ? std::optional<std::string>() : std::optional<std::string>(it->second);
        };
        msteams::sync::PresenceReader read_presence =
            [this](std::vector<msteams::TeamsUserId> const& ids) -> Result<std::vector<Presence>> {
            presence_requests.push_back(ids.size());
            if (presence_fails) {
                return fail(presence_error, "Graph says no");
            }
            std::vector<Presence> out;
            for (auto const& id : ids) {
                if (auto it = availability.find(id.str()); it != availability.end()) {
                    out.push_back(Presence{id, it->second, ""});
                }
            }
            return out;
        };
        return std::make_unique<ProfileSync>(settings, api, std::make_shared<msteams::store::Profiles>(db), read_photo,
                                             read_presence, stats);
    }
};

}  // namespace

TEST_CASE("profiles: Teams availability maps onto Mattermost's four statuses", "[sync]") {
    using msteams::sync::status_for;
    CHECK(status_for("Available") == "online");
    CHECK(status_for("AvailableIdle") == "online");
    CHECK(status_for("Away") == "away");
    CHECK(status_for("BeRightBack") == "away");
    CHECK(status_for("BusyIdle") == "away");
    CHECK(status_for("Busy") == "dnd");
    CHECK(status_for("DoNotDisturb") == "dnd");
    CHECK(status_for("Offline") == "offline");
    CHECK(status_for("PresenceUnknown") == "offline");
    CHECK(status_for("SomethingNew") == "offline");
}

TEST_CASE("profiles: a Teams photo becomes the avatar once, and again only when it changes", "[sync][pg]") {
    World w;
    w.synthetic("t-adele", "mm-adele");
    w.synthetic("t-bianca", "mm-bianca");  // no photo in Teams
    w.photos["t-adele"] = "photo-v1";
    auto sync = w.sync();

    REQUIRE(sync->run_once().has_value());
    CHECK(w.api->profile_images["mm-adele"] == "photo-v1");
    CHECK(w.api->profile_images.count("mm-bianca") == 0);  // Mattermost's generated avatar stays
    CHECK(w.photo_reads == 2);
    CHECK(w.stats->avatars_set == 1);

    // Within the refresh interval nobody is read again.
    w.now += 23 * 3'600'000LL;
    REQUIRE(sync->run_once().has_value());
    CHECK(w.photo_reads == 2);

    // After it, both are read; the unchanged photo is not uploaded again, a changed one is.
    w.now += 2 * 3'600'000LL;
    REQUIRE(sync->run_once().has_value());
    CHECK(w.photo_reads == 4);
    CHECK(w.stats->avatars_set == 1);
    w.photos["t-adele"] = "photo-v2";
    w.now += 25 * 3'600'000LL;
    REQUIRE(sync->run_once().has_value());
    CHECK(w.api->profile_images["mm-adele"] == "photo-v2");
    CHECK(w.stats->avatars_set == 2);
}

TEST_CASE("profiles: photos are read within a per-pass budget, oldest first", "[sync][pg]") {
    World w;
    for (int i = 0; i < 5; ++i) {
        w.synthetic("t-" + std::to_string(i), "mm-" + std::to_string(i));
        w.photos["t-" + std::to_string(i)] = "p" + std::to_string(i);
    }
    ProfileSyncSettings settings;
    settings.photos_per_pass = 2;
    settings.presence = false;
    auto sync = w.sync(settings);
    REQUIRE(sync->run_once().has_value());
    CHECK(w.photo_reads == 2);
    w.now += 1;
    REQUIRE(sync->run_once().has_value());
    w.now += 1;
    REQUIRE(sync->run_once().has_value());
    CHECK(w.photo_reads == 5);
    CHECK(w.api->profile_images.size() == 5);
    CHECK(w.presence_requests.empty());  // presence off: not asked
}

TEST_CASE("profiles: presence is mirrored as status, changes only, in requests of at most 650 users", "[sync][pg]") {
    World w;
    for (int i = 0; i < 700; ++i) {
        auto const n = std::to_string(1000 + i);
        w.synthetic("t-" + n, "mm-" + n);
        w.availability["t-" + n] = "Available";
    }
    w.availability["t-1000"] = "Busy";
    auto sync = w.sync();
    REQUIRE(sync->run_once().has_value());
    REQUIRE(w.presence_requests == std::vector<std::size_t>{650, 50});
    CHECK(w.api->statuses["mm-1000"] == "dnd");
    CHECK(w.api->statuses["mm-1699"] == "online");
    CHECK(w.api->status_updates == 700);

    // Unchanged presence costs Graph requests, no Mattermost updates.
    w.availability["t-1001"] = "Away";
    REQUIRE(sync->run_once().has_value());
    CHECK(w.api->status_updates == 701);
    CHECK(w.api->statuses["mm-1001"] == "away");
    CHECK(w.stats->statuses_set == 701);
}

TEST_CASE("profiles: without Presence.Read.All the bridge asks again only after an hour", "[sync][pg]") {
    World w;
    w.synthetic("t-adele", "mm-adele");
    w.presence_fails = true;
    w.presence_error = ErrorCode::permission_denied;
    auto sync = w.sync();
    REQUIRE(sync->run_once().has_value());  // refused presence is not a failure of the pass
    REQUIRE(sync->run_once().has_value());
    CHECK(w.presence_requests.size() == 1);
    w.now += 61 * 60'000LL;
    w.presence_fails = false;
    w.availability["t-adele"] = "Available";
    REQUIRE(sync->run_once().has_value());
    CHECK(w.presence_requests.size() == 2);
    CHECK(w.api->statuses["mm-adele"] == "online");

    // Graph unavailable: the pass reports it, the next one tries again.
    w.presence_fails = true;
    w.presence_error = ErrorCode::unavailable;
    CHECK_FALSE(sync->run_once().has_value());
    w.presence_fails = false;
    REQUIRE(sync->run_once().has_value());
    CHECK(w.presence_requests.size() == 4);
}
