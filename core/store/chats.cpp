// The msteams_chats table's SQL.
#include <algorithm>

#include "common/strings.hpp"
#include <memory>
#include <utility>

#include "store/detail/sql.hpp"
#include "store/repositories.hpp"

namespace msteams::store {
namespace {

using detail::num;

class PgChats final : public Chats {
public:
    explicit PgChats(std::shared_ptr<Database> db) : db_(std::move(db)) {}
    [[nodiscard]] Result<std::optional<ChatInfo>> find(TeamsThreadId const& chat_id) override;
    [[nodiscard]] Status put(ChatInfo const& chat) override;

private:
    std::shared_ptr<Database> db_;
};

}  // namespace

Result<std::optional<ChatInfo>> PgChats::find(TeamsThreadId const& chat_id) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec("SELECT chat_id, member_ids, web_url, checked_at FROM msteams_chats "
                                    "WHERE chat_id = $1",
                                    {chat_id}));
    if (r.empty()) {
        return std::optional<ChatInfo>();
    }
    ChatInfo c{r.id<TeamsThreadId>(0, "chat_id"), {}, r.text(0, "web_url"), r.integer(0, "checked_at")};
    for (auto& member : strings::split(r.text(0, "member_ids"), ',')) {
        if (!member.empty()) {
            c.member_ids.emplace_back(std::move(member));
        }
    }
    return std::optional<ChatInfo>(std::move(c));
}

Status PgChats::put(ChatInfo const& chat) {
    auto members = chat.member_ids;
    std::sort(members.begin(), members.end());
    std::string joined;
    for (auto const& m : members) {
        joined += joined.empty() ? m.str() : "," + m.str();
    }
    MSTEAMS_TRY(
        db_->exec("INSERT INTO msteams_chats (chat_id, member_ids, web_url, checked_at) "
                  "VALUES ($1, $2, $3, $4) ON CONFLICT (chat_id) DO UPDATE SET member_ids = $2, "
                  "web_url = CASE WHEN $3 = '' THEN msteams_chats.web_url ELSE $3 END, checked_at = $4",
                  {chat.chat_id, joined, chat.web_url, num(chat.checked_at)}));
    return {};
}

std::shared_ptr<Chats> postgres_chats(std::shared_ptr<Database> db) { return std::make_shared<PgChats>(std::move(db)); }

}  // namespace msteams::store
