// The msteams_certificates table's SQL.
#include <memory>
#include <utility>

#include "store/detail/sql.hpp"
#include "store/repositories.hpp"

namespace msteams::store {
namespace {

using detail::num;

class PgCertificates final : public Certificates {
public:
    explicit PgCertificates(std::shared_ptr<Database> db) : db_(std::move(db)) {}

    [[nodiscard]] Result<std::vector<CertificateRow>> list() override {
        Rows r;
        MSTEAMS_TRY_ASSIGN(r, db_->exec("SELECT id, thumbprint, certificate, private_key, created_at, expires_at "
                                        "FROM msteams_certificates ORDER BY created_at DESC, id"));
        std::vector<CertificateRow> out;
        for (std::size_t i = 0; i < r.size(); ++i) {
            out.push_back(CertificateRow{r.text(i, "id"), r.text(i, "thumbprint"), r.text(i, "certificate"),
                                         r.text(i, "private_key"), r.integer(i, "created_at"),
                                         r.integer(i, "expires_at")});
        }
        return out;
    }

    [[nodiscard]] Status add(CertificateRow const& row) override {
        MSTEAMS_TRY(
            db_->exec("INSERT INTO msteams_certificates (id, thumbprint, certificate, private_key, created_at, "
                      "expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
                      {row.id, row.thumbprint, row.certificate, row.private_key_sealed, num(row.created_at),
                       num(row.expires_at)}));
        return {};
    }

    [[nodiscard]] Result<std::int64_t> remove_expired(std::int64_t before_ms) override {
        Rows r;
        MSTEAMS_TRY_ASSIGN(
            r, db_->exec("DELETE FROM msteams_certificates WHERE expires_at < $1 RETURNING id", {num(before_ms)}));
        return static_cast<std::int64_t>(r.size());
    }

private:
    std::shared_ptr<Database> db_;
};

}  // namespace

std::shared_ptr<Certificates> postgres_certificates(std::shared_ptr<Database> db) {
    return std::make_shared<PgCertificates>(std::move(db));
}

}  // namespace msteams::store
