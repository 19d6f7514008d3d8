#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "../fake_api.hpp"
#include "app/config.hpp"
#include "app/core.hpp"

using msteams::app::parse_config;
using msteams::test::valid_server;
using msteams::test::valid_settings_json;
using nlohmann::json;

namespace {

std::string with(std::string const& key, json value) {
    auto j = json::parse(valid_settings_json());
    if (value.is_null()) {
        j.erase(key);
    } else {
        j[key] = std::move(value);
    }
    return j.dump();
}

std::string error_of(std::string const& settings, msteams::app::ServerSettings const& server = valid_server()) {
    auto const r = parse_config(settings, server, true);
    REQUIRE_FALSE(r.has_value());
    return r.error().message;
}

}  // namespace

TEST_CASE("config: a complete configuration is accepted with defaults filled in", "[config]") {
    auto const r = parse_config(valid_settings_json(), valid_server(), true);
    REQUIRE(r.has_value());
    auto const& c = r->config;
    CHECK(c.tenant_id == "8e7c2c3a-6a8b-4b6e-9d7e-2f0a1c9b5d41");
    CHECK(c.login_base_url == "https://login.microsoftonline.com");
    CHECK(c.graph_base_url == "https://graph.microsoft.com");
    CHECK(c.chat_sync == msteams::app::ChatSync::mirror);
    CHECK(c.sync_presence);
    CHECK(c.connected_users_allowed == 1000);
    CHECK(c.max_file_size_to_mattermost == 20LL << 20);
    CHECK(c.server.site_url == "https://chat.example.com");  // trailing slash removed
    CHECK(r->generated_keys.empty());
    CHECK(r->settings_json.empty());
}

TEST_CASE("config: empty required settings leave the plugin waiting to be set up, each named", "[config]") {
    auto r = parse_config(with("tenantid", nullptr), valid_server(), true);
    REQUIRE(r.has_value());
    CHECK_FALSE(r->config.configured());
    CHECK(r->config.missing == std::vector<std::string>{"Tenant ID (tenantId)"});
    r = parse_config("{}", valid_server(), true);
    REQUIRE(r.has_value());
    CHECK(r->config.missing ==
          std::vector<std::string>{"Tenant ID (tenantId)", "Client ID (clientId)", "Client secret (clientSecret)"});
    CHECK(r->generated_keys.size() == 2);  // the secrets are generated all the same
    r = parse_config(with("clientsecret", "  "), valid_server(), true);
    REQUIRE(r.has_value());
    CHECK(r->config.missing == std::vector<std::string>{"Client secret (clientSecret)"});
    CHECK(parse_config(valid_settings_json(), valid_server(), true)->config.configured());
    // Present and wrong is refused even while others are missing.
    CHECK_THAT(error_of(R"({"clientid":"not-a-guid"})"), Catch::Contains("Client ID (clientId) must be a GUID"));
}

TEST_CASE("config: every problem is reported at once, each with its setting's name", "[config]") {
    auto j = json::parse(valid_settings_json());
    j["graphchatreadsperminute"] = 20000;
    j["reconcileintervalminutes"] = 2000;
    j["maxfilesizetomattermostmb"] = -5;
    std::vector<std::string> problems;
    auto const r = parse_config(j.dump(), valid_server(), true, &problems);
    REQUIRE_FALSE(r.has_value());
    REQUIRE(problems.size() == 3);
    CHECK_THAT(problems[0],
               Catch::Contains("Largest Teams file to copy into Mattermost (MB) (maxFileSizeToMattermostMb)"));
    CHECK_THAT(problems[1],
               Catch::Contains("Reconcile recently active chats every (minutes) (reconcileIntervalMinutes)"));
    CHECK_THAT(problems[2], Catch::Contains("Graph reads per chat per minute (graphChatReadsPerMinute)"));
    CHECK_THAT(r.error().message, Catch::StartsWith("3 settings need fixing:"));
    for (auto const& p : problems) {
        CHECK_THAT(r.error().message, Catch::Contains(p));
    }
}

TEST_CASE("config: malformed ids and values are refused with the setting's name", "[config]") {
    CHECK_THAT(error_of(with("clientid", "not-a-guid")), Catch::Contains("Client ID (clientId) must be a GUID"));
    CHECK_THAT(error_of(with("tenantid", "no spaces allowed")), Catch::Contains("Tenant ID (tenantId)"));
    CHECK(parse_config(with("tenantid", "contoso.onmicrosoft.com"), valid_server(), true).has_value());
    CHECK_THAT(error_of(with("tenantid", 42)), Catch::Contains("must be text"));
    CHECK_THAT(error_of(with("connectedusersallowed", -1)),
               Catch::Contains("Maximum connected users (connectedUsersAllowed) must be between 0 and 1000000"));
    CHECK_THAT(error_of(with("connectedusersallowed", "12abc")), Catch::Contains("must be a whole number"));
    // Numbers far outside any range, whole or not, in every JSON number type (fuzz_config found the first one).
    for (auto const& huge : {nlohmann::json(6.66667e41), nlohmann::json(-1e300), nlohmann::json(9.3e18),
                             nlohmann::json(18446744073709551615ULL), nlohmann::json(1e18)}) {
        INFO(huge.dump());
        CHECK_THAT(error_of(with("connectedusersallowed", huge)), Catch::Contains("must be between 0 and 1000000"));
    }
    CHECK_THAT(error_of(with("connectedusersallowed", 12.5)), Catch::Contains("must be a whole number"));
    CHECK(parse_config(with("connectedusersallowed", 12.0), valid_server(), true).has_value());
    CHECK_THAT(error_of(with("syncpresence", "maybe")),
               Catch::Contains("Show Teams people's presence (syncPresence) must be true or false"));
    CHECK_THAT(error_of(with("chatsync", "sometimes")), Catch::Contains("Teams chats (chatSync) must be one of:"));
    CHECK_THAT(error_of(with("evaluationapi", "maybe")), Catch::Contains("must be true or false"));
    CHECK_THAT(error_of(with("webhooksecret", "short")), Catch::Contains("Webhook secret (webhookSecret)"));
    CHECK_THAT(error_of(with("webhooksecret", std::string(129, 'a'))), Catch::Contains("longer than 128"));
}

TEST_CASE("config: numbers and booleans may arrive as strings, keys in any case", "[config]") {
    auto j = json::parse(valid_settings_json());
    j["ConnectedUsersAllowed"] = "250";
    j["EVALUATIONAPI"] = "true";
    j["graphchatreadsperminute"] = 12.0;
    auto const r = parse_config(j.dump(), valid_server(), true);
    REQUIRE(r.has_value());
    CHECK(r->config.connected_users_allowed == 250);
    CHECK(r->config.evaluation_api);
    CHECK(r->config.chat_reads_per_minute == 12);
}

TEST_CASE("config: empty generated secrets are generated once and handed back for saving", "[config]") {
    auto const settings = with("encryptionkey", "");
    auto const r = parse_config(settings, valid_server(), true);
    REQUIRE(r.has_value());
    REQUIRE(r->generated_keys == std::vector<std::string>{"encryptionkey"});
    CHECK(r->config.encryption_key.size() == 32);
    auto const saved = json::parse(r->settings_json);
    CHECK(saved["encryptionkey"] == r->config.encryption_key);
    CHECK(saved["clientsecret"] == "s3cr3t~value");  // the rest is kept
    // A second generation differs: these are random, not derived.
    auto const again = parse_config(settings, valid_server(), true);
    REQUIRE(again.has_value());
    CHECK(again->config.encryption_key != r->config.encryption_key);
    // Without generation, an empty secret is an error.
    CHECK_FALSE(parse_config(settings, valid_server(), false).has_value());
}

TEST_CASE("config: the server must use PostgreSQL and have a Site URL", "[config]") {
    auto server = valid_server();
    server.sql_driver_name = "mysql";
    CHECK_THAT(error_of(valid_settings_json(), server),
               Catch::Contains("requires PostgreSQL") && Catch::Contains("\"mysql\""));
    server = valid_server();
    server.site_url = "";
    CHECK_THAT(error_of(valid_settings_json(), server), Catch::Contains("Site URL (ServiceSettings.SiteURL)"));
}

TEST_CASE("config: national clouds map to their hosts — custom endpoints must be https", "[config]") {
    auto r = parse_config(with("nationalcloud", "usgovdod"), valid_server(), true);
    REQUIRE(r.has_value());
    CHECK(r->config.graph_base_url == "https://dod-graph.microsoft.us");
    CHECK(r->config.login_base_url == "https://login.microsoftonline.us");
    CHECK(r->config.teams_web_url == "https://dod.teams.microsoft.us");
    r = parse_config(with("nationalcloud", "usgov"), valid_server(), true);
    REQUIRE(r.has_value());
    CHECK(r->config.teams_web_url == "https://gov.teams.microsoft.us");
    r = parse_config(with("nationalcloud", "china"), valid_server(), true);
    REQUIRE(r.has_value());
    CHECK(r->config.graph_base_url == "https://microsoftgraph.chinacloudapi.cn");
    CHECK(r->config.teams_web_url == "https://teams.microsoftonline.cn");
    r = parse_config(with("nationalcloud", "global"), valid_server(), true);
    REQUIRE(r.has_value());
    CHECK(r->config.teams_web_url == "https://teams.microsoft.com");

    auto j = json::parse(valid_settings_json());
    j["nationalcloud"] = "custom";
    CHECK_THAT(error_of(j.dump()), Catch::Contains("Custom login endpoint (customLoginUrl) is required"));
    j["customloginurl"] = "http://127.0.0.1:8443";
    j["customgraphurl"] = "https://127.0.0.1:9443/";
    CHECK_THAT(error_of(j.dump()), Catch::Contains("must start with https://"));
    j["customloginurl"] = "https://localhost:8443/";
    r = parse_config(j.dump(), valid_server(), true);
    REQUIRE(r.has_value());
    CHECK(r->config.login_base_url == "https://localhost:8443");
    CHECK(r->config.graph_base_url == "https://127.0.0.1:9443");
    j["customgraphurl"] = "https://user:pw@graph.example.com";
    CHECK_THAT(error_of(j.dump()), Catch::Contains("without spaces, query, fragment or credentials"));
}

TEST_CASE("config: extra CA certificates must be PEM", "[config]") {
    CHECK_THAT(error_of(with("extracapem", "not a certificate")),
               Catch::Contains("Additional trusted CA certificates (extraCaPem) contains no PEM certificate"));
}

TEST_CASE("config: settings that are not a JSON object, or too large, are refused", "[config]") {
    CHECK_THAT(error_of("[1,2]"), Catch::Contains("not a JSON object"));
    CHECK_THAT(error_of("{\"tenantid\":"), Catch::Contains("not a JSON object"));
    CHECK_THAT(error_of(std::string(300 * 1024, ' ')), Catch::Contains("larger than 256 KiB"));
}

TEST_CASE("config: the description for the log carries no secret", "[config]") {
    auto const r = parse_config(valid_settings_json(), valid_server(), true);
    REQUIRE(r.has_value());
    auto const text = msteams::app::describe(r->config);
    CHECK_THAT(text, Catch::Contains("tenant=8e7c2c3a"));
    CHECK(text.find("s3cr3t") == std::string::npos);
    CHECK(text.find("0123456789abcdef") == std::string::npos);
    CHECK(text.find("mmuser") == std::string::npos);
}

TEST_CASE("config: the Graph request timeout is an advanced setting in milliseconds", "[config]") {
    auto const defaults = parse_config(valid_settings_json(), valid_server(), true);
    REQUIRE(defaults.has_value());
    CHECK(defaults->config.graph_request_timeout_ms == 30'000);
    auto const short_one = parse_config(with("graphRequestTimeoutMs", 1500), valid_server(), true);
    REQUIRE(short_one.has_value());
    CHECK(short_one->config.graph_request_timeout_ms == 1500);
    CHECK_THAT(error_of(with("graphRequestTimeoutMs", 5)),
               Catch::Contains("Graph request timeout (ms) (graphRequestTimeoutMs) must be between 100 and 600000"));
}

TEST_CASE("config: the reconciliation interval defaults to 5 minutes, 0 turns it off, seconds override", "[config]") {
    auto const defaults = parse_config(valid_settings_json(), valid_server(), true);
    REQUIRE(defaults.has_value());
    CHECK(defaults->config.reconcile_interval_seconds == 300);
    auto const off = parse_config(with("reconcileintervalminutes", 0), valid_server(), true);
    REQUIRE(off.has_value());
    CHECK(off->config.reconcile_interval_seconds == 0);
    auto const fast = parse_config(with("reconcileintervalseconds", "3"), valid_server(), true);
    REQUIRE(fast.has_value());
    CHECK(fast->config.reconcile_interval_seconds == 3);
    CHECK_THAT(error_of(with("reconcileintervalminutes", -1)),
               Catch::Contains("Reconcile recently active chats every (minutes) (reconcileIntervalMinutes)"));
    CHECK_THAT(error_of(with("reconcileintervalminutes", 100000)), Catch::Contains("reconcileIntervalMinutes"));
}

TEST_CASE("config: Mattermost's mask for secrets is never taken as a value", "[config]") {
    std::string const mask(msteams::app::k_masked_setting);
    CHECK_THAT(error_of(with("clientsecret", mask)), Catch::Contains("Client secret (clientSecret) holds the mask"));
    CHECK_THAT(error_of(with("encryptionkey", mask)),
               Catch::Contains("At-rest encryption key (encryptionKey) holds the mask"));
    CHECK_THAT(error_of(with("webhooksecret", mask)), Catch::Contains("Webhook secret (webhookSecret) holds the mask"));
}

TEST_CASE("config: the metrics token is optional, and a short one is refused by name", "[config]") {
    auto const none = parse_config(valid_settings_json(), valid_server(), true);
    REQUIRE(none.has_value());
    CHECK(none->config.metrics_token.empty());
    auto const set = parse_config(with("metricsToken", "0123456789abcdef"), valid_server(), true);
    REQUIRE(set.has_value());
    CHECK(set->config.metrics_token == "0123456789abcdef");
    CHECK_THAT(error_of(with("metricsToken", "short")),
               Catch::Contains("Metrics token (metricsToken) must be empty or at least 16 characters"));
    CHECK_THAT(error_of(with("metricsToken", "0123456789 abcdef")), Catch::Contains("metricsToken"));
    // never in the description of the configuration that is logged
    CHECK(msteams::app::describe(set->config).find("0123456789abcdef") == std::string::npos);
}

TEST_CASE("config: the user sync is off by default, in minutes, with domains and a limit per run", "[config]") {
    auto r = parse_config(valid_settings_json(), valid_server(), true);
    REQUIRE(r.has_value());
    CHECK(r->config.sync_users_interval_seconds == 0);
    CHECK(r->config.sync_users_domains.empty());
    CHECK(r->config.sync_users_max_per_run == 5000);
    CHECK_FALSE(r->config.auto_promote_synthetic_users);

    r = parse_config(with("syncusersinterval", 30), valid_server(), true);
    REQUIRE(r.has_value());
    CHECK(r->config.sync_users_interval_seconds == 1800);
    auto j = json::parse(with("syncusersinterval", "60"));
    j["syncusersintervalseconds"] = 5;  // advanced: seconds override the minutes (tests)
    j["syncusersdomains"] = " Contoso.com, @fabrikam.example;contoso.com  sub.contoso.com ";
    j["syncusersmaxperrun"] = 10;
    j["automaticallypromotesyntheticusers"] = "true";
    r = parse_config(j.dump(), valid_server(), true);
    REQUIRE(r.has_value());
    CHECK(r->config.sync_users_interval_seconds == 5);
    CHECK(r->config.sync_users_domains ==
          std::vector<std::string>{"contoso.com", "fabrikam.example", "sub.contoso.com"});
    CHECK(r->config.sync_users_max_per_run == 10);
    CHECK(r->config.auto_promote_synthetic_users);
    CHECK_THAT(msteams::app::describe(r->config),
               Catch::Contains("user_sync=5s") && Catch::Contains("auto_promote=on"));

    CHECK_THAT(error_of(with("syncusersinterval", -1)),
               Catch::Contains("Synchronise Teams users every (minutes) (syncUsersInterval)"));
    CHECK_THAT(error_of(with("syncusersdomains", "contoso.com, exa_mple.com")),
               Catch::Contains("syncUsersDomains") && Catch::Contains("\"exa_mple.com\""));
    CHECK_THAT(error_of(with("syncusersmaxperrun", 0)), Catch::Contains("syncUsersMaxPerRun"));
    CHECK_THAT(error_of(with("automaticallypromotesyntheticusers", "maybe")),
               Catch::Contains("automaticallyPromoteSyntheticUsers"));
}

TEST_CASE("config: the Teams tab follows the cloud: issuers, who may frame it, what the admin must allow", "[config]") {
    auto r = parse_config(with("nationalcloud", "china"), valid_server(), true);
    REQUIRE(r.has_value());
    CHECK(r->config.token_issuer_v1_host == "sts.chinacloudapi.cn");
    CHECK(r->config.token_issuer_v2_host == "login.partner.microsoftonline.cn");
    CHECK(r->config.teams_frame_ancestors == "https://teams.microsoftonline.cn https://*.teams.microsoftonline.cn");
    r = parse_config(with("nationalcloud", "usgov"), valid_server(), true);
    REQUIRE(r.has_value());
    CHECK(r->config.token_issuer_v1_host == "sts.windows.net");
    CHECK(r->config.token_issuer_v2_host == "login.microsoftonline.us");
    r = parse_config(valid_settings_json(), valid_server(), true);
    REQUIRE(r.has_value());
    auto config = r->config;
    CHECK(config.token_issuer_v2_host == "login.microsoftonline.com");
    CHECK_THAT(config.teams_frame_ancestors, Catch::StartsWith("https://teams.microsoft.com "));
    // Mattermost's own pages (which the tab opens inside Teams) need ServiceSettings.FrameAncestors.
    auto const problem = msteams::app::teams_tab_problem(config);
    CHECK_THAT(problem, Catch::Contains("ServiceSettings.FrameAncestors"));
    CHECK_THAT(problem, Catch::Contains(config.teams_frame_ancestors));
    config.server.frame_ancestors = "https://other.example.com";
    CHECK_FALSE(msteams::app::teams_tab_problem(config).empty());
    config.server.frame_ancestors = "https://other.example.com https://teams.microsoft.com";
    CHECK(msteams::app::teams_tab_problem(config).empty());
    // What a server without the setting (9.11) sends, which the shim passes on.
    config.server.frame_ancestors = "'self' teams.microsoft.com";
    CHECK(msteams::app::teams_tab_problem(config).empty());
}
