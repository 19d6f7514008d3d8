#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/result.hpp"
#include "crypto/crypto.hpp"
#include "crypto/rich.hpp"
#include "store/repositories.hpp"

// The certificates Microsoft Graph encrypts rich notifications with: RSA key pairs made by the bridge, their private
// keys sealed at rest like tokens. The leader gives new and renewed subscriptions the newest one and makes the next
// before it nears its end; every node opens a private key when a notification names it (kept in memory after).
namespace msteams::sync {

struct CertificateSettings {
    std::int64_t lifetime_ms = 30LL * 24 * 60 * 60 * 1000;  // a certificate's validity
    // A certificate with less than this left is replaced for new and renewed subscriptions (a subscription lives
    // three hours at most, so one renewed with it never outlives it).
    std::int64_t rotate_before_ms = 7LL * 24 * 60 * 60 * 1000;
    // Notifications are retried by Graph for up to four hours: an expired certificate's key is kept a day longer.
    std::int64_t keep_after_expiry_ms = 24LL * 60 * 60 * 1000;
    std::function<std::int64_t()> clock_ms;  // Unix ms (tests move it by hand)
};

class Certificates {
public:
    Certificates(std::shared_ptr<store::Certificates> repo, std::shared_ptr<crypto::Sealer const> sealer,
                 CertificateSettings settings = {});

    struct Current {
        std::string id;
        std::string certificate;  // base64 DER, for encryptionCertificate
    };
    // The certificate for a new or renewed subscription: the newest, made and stored first when there is none or it
    // nears its end. The leader's call (two nodes making one each at once would only waste one).
    [[nodiscard]] Result<Current> current();

    // The private key of the certificate a notification names, parsed once: not_found when the bridge has no such
    // certificate (not ours, or long expired); permission_denied when it does not open with the encryption key.
    [[nodiscard]] Result<std::shared_ptr<crypto::RsaPrivateKey const>> private_key(std::string const& id);

    // Forgets the certificates that expired more than keep_after_expiry ago; returns how many.
    [[nodiscard]] Result<std::int64_t> prune();

private:
    [[nodiscard]] std::int64_t now() const;

    std::shared_ptr<store::Certificates> repo_;
    std::shared_ptr<crypto::Sealer const> sealer_;
    CertificateSettings settings_;
    std::mutex mutex_;
    std::map<std::string, std::shared_ptr<crypto::RsaPrivateKey const>> keys_;  // opened private keys by id
};

}  // namespace msteams::sync
