#include "sync/certificates.hpp"

#include <utility>

#include "common/clock.hpp"
#include "common/log.hpp"

namespace msteams::sync {

Certificates::Certificates(std::shared_ptr<store::Certificates> repo, std::shared_ptr<crypto::Sealer const> sealer,
                           CertificateSettings settings)
    : repo_(std::move(repo)),
      sealer_(std::move(sealer)),
      settings_(std::move(settings)) {}

std::int64_t Certificates::now() const { return settings_.clock_ms ? settings_.clock_ms() : now_ms(); }

Result<Certificates::Current> Certificates::current() {
    std::vector<store::CertificateRow> rows;
    MSTEAMS_TRY_ASSIGN(rows, repo_->list());
    auto const at = now();
    if (!rows.empty() && rows.front().expires_at - at > settings_.rotate_before_ms) {
        return Current{rows.front().id, rows.front().certificate};
    }
    // A label of our own (Graph echoes it): the day it was made, and randomness so that two never collide.
    std::string const id =
        "msteams-" + std::to_string(at / 1000) + "-" + crypto::base64url_encode(crypto::random_bytes(9));
    auto made = crypto::make_encryption_certificate("Mattermost Microsoft Teams bridge", at / 1000 - 3600,
                                                    (at + settings_.lifetime_ms) / 1000);
    store::CertificateRow row{id,
                              made.thumbprint,
                              crypto::base64_encode(made.certificate_der),
                              sealer_->seal(made.private_key_pem, id),
                              at,
                              at + settings_.lifetime_ms};
    MSTEAMS_TRY(repo_->add(row));
    if (auto key = crypto::RsaPrivateKey::parse(made.private_key_pem)) {
        std::lock_guard held(mutex_);
        keys_[id] = std::make_shared<crypto::RsaPrivateKey const>(*std::move(key));
    }
    log::info("made a certificate for rich Teams notifications", {{"certificate_id", id}});
    return Current{row.id, row.certificate};
}

Result<std::shared_ptr<crypto::RsaPrivateKey const>> Certificates::private_key(std::string const& id) {
    {
        std::lock_guard held(mutex_);
        if (auto const it = keys_.find(id); it != keys_.end()) {
            return it->second;
        }
    }
    std::vector<store::CertificateRow> rows;
    MSTEAMS_TRY_ASSIGN(rows, repo_->list());
    for (auto const& row : rows) {
        if (row.id != id) {
            continue;
        }
        std::string pem;
        MSTEAMS_TRY_ASSIGN(pem, sealer_->open(row.private_key_sealed, row.id));
        crypto::RsaPrivateKey parsed;
        MSTEAMS_TRY_ASSIGN(parsed, crypto::RsaPrivateKey::parse(pem));
        auto key = std::make_shared<crypto::RsaPrivateKey const>(std::move(parsed));
        std::lock_guard held(mutex_);
        keys_[id] = key;
        return key;
    }
    return fail(ErrorCode::not_found, "no certificate of the bridge has this id");
}

Result<std::int64_t> Certificates::prune() {
    std::int64_t removed = 0;
    MSTEAMS_TRY_ASSIGN(removed, repo_->remove_expired(now() - settings_.keep_after_expiry_ms));
    if (removed > 0) {
        std::vector<store::CertificateRow> rows;
        MSTEAMS_TRY_ASSIGN(rows, repo_->list());
        std::lock_guard held(mutex_);
        std::erase_if(keys_, [&](auto const& kv) {
            return std::none_of(rows.begin(), rows.end(), [&](auto const& r) { return r.id == kv.first; });
        });
    }
    return removed;
}

}  // namespace msteams::sync
