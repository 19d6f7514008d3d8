#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "crypto/crypto.hpp"
#include "graph/entra.hpp"
#include "store/legacy.hpp"
#include "store/repositories.hpp"

// The upgrade in place from the official Mattermost MS Teams plugin (same plugin id): on activation, when its tables
// are there, its connected users (their tokens decrypted with its key and sealed again with ours), the Teams users it
// knew, its channel links and its message map are imported into the bridge's tables, in batches, once per cluster
// (a lease), resumably (the progress is in msteams_legacy_import), reported in the log, to system admins by the bot
// and in /msteams status. The old tables are only read. docs/upgrade.md has the facts it relies on.
namespace msteams::sync {

struct LegacyImportSettings {
    // The encryptionKey setting as the official plugin read it: its bytes are its AES-GCM key.
    std::string legacy_key;
    std::string node_id;  // the lease holder
    std::size_t batch_size = 500;
    std::chrono::seconds lease_ttl{120};
    // The settings carried over at this activation (app::carry_over_legacy_settings), recorded with the import.
    std::string settings_note;
};

enum class LegacyOutcome {
    nothing_to_import,  // no tables of the official plugin, or imported before
    finished,           // this call finished the import
    elsewhere,          // another node holds the lease (or moved a step on)
    stopped,            // `stopping` said so between two batches; the next run continues
};

class LegacyImport {
public:
    using Tell = std::function<void(std::string const& text)>;

    LegacyImport(LegacyImportSettings settings, std::shared_ptr<store::LegacyImportStore> store,
                 std::shared_ptr<store::Leases> leases, std::shared_ptr<store::Notices> notices,
                 std::shared_ptr<crypto::Sealer const> sealer, Tell tell_admins);

    // Runs the import as far as it goes. `quick_done` is called once connected users, Teams users and links are in
    // (before the message map, the long part), or at once when there is nothing to do.
    [[nodiscard]] Result<LegacyOutcome> run(std::function<bool()> const& stopping = {},
                                            std::function<void()> const& quick_done = {});

    // Tests: called after each committed batch of a step.
    std::function<void(store::LegacyStep)> after_batch;

private:
    [[nodiscard]] Result<bool> run_step(store::LegacyStep step, store::LegacyTables const& tables,
                                        std::function<bool()> const& stopping);
    [[nodiscard]] Result<store::LegacyBatch> accounts_batch(std::string const& after, bool with_last_connect_at);
    [[nodiscard]] Result<bool> keep_lease();
    void report_once();

    LegacyImportSettings settings_;
    std::shared_ptr<store::LegacyImportStore> store_;
    std::shared_ptr<store::Leases> leases_;
    std::shared_ptr<store::Notices> notices_;
    std::shared_ptr<crypto::Sealer const> sealer_;
    Tell tell_;
};

// The official plugin's sealed token (base64url of nonce || AES-GCM ciphertext || tag, the key being the bytes of
// `key`), holding golang.org/x/oauth2's Token as JSON, as the bridge's Token. invalid_argument for a key that is not
// an AES key or a token that is not one; permission_denied when it does not decrypt with the key.
[[nodiscard]] Result<graph::Token> open_legacy_token(std::string_view key, std::string_view sealed);

// What system admins are told when the import finished (`problems`: the users whose tokens could not be imported).
[[nodiscard]] std::string legacy_report(std::vector<store::LegacyProgress> const& progress,
                                        std::vector<store::LegacyProblem> const& problems);
// One line for /msteams status; "" when there never was anything to import.
[[nodiscard]] std::string legacy_status(std::vector<store::LegacyProgress> const& progress,
                                        std::vector<store::LegacyProblem> const& problems);

// The lease that makes one node of a cluster run the import.
inline constexpr char const* k_legacy_import_lease = "legacy-import";
// The notice (msteams_notices) that makes the admins' message go once.
inline constexpr char const* k_legacy_import_notice = "legacy-import-finished";

}  // namespace msteams::sync
