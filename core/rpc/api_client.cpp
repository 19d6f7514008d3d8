#include "rpc/api_client.hpp"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cstdio>
#include <mutex>

#include "msteams.grpc.pb.h"
#include "rpc/proto_mapping.hpp"
#include "rpc/limits.hpp"

namespace msteams::rpc {
namespace {

// User ids as Mattermost's server answered them.
std::vector<MmUserId> ids_of(google::protobuf::RepeatedPtrField<std::string> const& ids) {
    std::vector<MmUserId> out;
    out.reserve(static_cast<std::size_t>(ids.size()));
    for (auto const& id : ids) {
        out.emplace_back(id);
    }
    return out;
}

// Files travel whole: a 100 MB upload goes on from the shim to Mattermost's file store, which may be remote.
constexpr std::chrono::milliseconds kFileDeadline = std::chrono::minutes(5);

Error transport_error(grpc::Status const& s, char const* method) {
    return Error{ErrorCode::unavailable,
                 std::string("the Mattermost API call ") + method + " failed: " + s.error_message(),
                 0,
                 {}};
}

// Runs one unary call with a deadline and turns both transport failures and AppErrors into Error.
template <class Response, class Call>
Result<Response> call(std::chrono::milliseconds deadline, char const* method, Call&& invoke) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + deadline);
    Response response;
    grpc::Status const status = invoke(ctx, response);
    if (!status.ok()) {
        return std::unexpected(transport_error(status, method));
    }
    if constexpr (requires { response.has_error(); }) {
        if (response.has_error()) {
            return std::unexpected(from_app_error(response.error()));
        }
    }
    return response;
}

}  // namespace

struct ApiClient::Impl {
    using Stub = v1::MattermostApi::Stub;

    std::unique_ptr<Stub> stub;
    std::chrono::milliseconds deadline;

    template <class Request, class Response>
    Result<Response> invoke(char const* name,
                            grpc::Status (Stub::*rpc)(grpc::ClientContext*, Request const&, Response*),
                            Request const& request, std::chrono::milliseconds timeout) {
        return call<Response>(timeout, name, [&](grpc::ClientContext& ctx, Response& response) {
            return (stub.get()->*rpc)(&ctx, request, &response);
        });
    }

    template <class Request, class Response>
    Result<Response> invoke(char const* name,
                            grpc::Status (Stub::*rpc)(grpc::ClientContext*, Request const&, Response*),
                            Request const& request) {
        return invoke(name, rpc, request, deadline);
    }
};

namespace {

template <class T>
Status to_status(Result<T> const& r) {
    if (!r) {
        return std::unexpected(r.error());
    }
    return {};
}

}  // namespace

ApiClient::ApiClient(std::string const& socket_path, std::chrono::milliseconds deadline)
    : impl_(std::make_unique<Impl>()) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(static_cast<int>(kMaxApiMessageBytes));
    args.SetMaxSendMessageSize(static_cast<int>(kMaxApiMessageBytes));
    auto channel = grpc::CreateCustomChannel("unix:" + socket_path, grpc::InsecureChannelCredentials(), args);
    impl_->stub = v1::MattermostApi::NewStub(channel);
    impl_->deadline = deadline;
}

ApiClient::~ApiClient() = default;

void ApiClient::log(log::Level level, std::string_view message, log::Fields const& fields) noexcept {
    try {
        v1::LogRequest req;
        switch (level) {
            case log::Level::debug: req.set_level(v1::LogRequest::DEBUG); break;
            case log::Level::info: req.set_level(v1::LogRequest::INFO); break;
            case log::Level::warn: req.set_level(v1::LogRequest::WARN); break;
            case log::Level::error: req.set_level(v1::LogRequest::ERROR); break;
        }
        req.set_message(std::string(message));
        for (auto const& [k, v] : fields) {
            req.add_key_values(k);
            req.add_key_values(v);
        }
        auto const r = impl_->invoke("Log", &Impl::Stub::Log, req, std::chrono::milliseconds(5000));
        if (!r) {
            std::fprintf(stderr, "%s (log via Mattermost failed: %s)\n",
                         log::format_line(level, message, fields).c_str(), r.error().message.c_str());
        }
    } catch (...) {
        std::fputs("msteams-core: a log line could not be sent to Mattermost\n", stderr);  // logging never throws
    }
}

Status ApiClient::save_plugin_config(std::string const& settings_json) {
    v1::SavePluginConfigRequest req;
    req.set_settings_json(settings_json);
    return to_status(impl_->invoke("SavePluginConfig", &Impl::Stub::SavePluginConfig, req));
}

Status ApiClient::register_command(mm::Command const& c) {
    v1::RegisterCommandRequest req;
    req.set_trigger(c.trigger);
    req.set_display_name(c.display_name);
    req.set_description(c.description);
    req.set_auto_complete(c.auto_complete);
    req.set_auto_complete_desc(c.auto_complete_desc);
    req.set_auto_complete_hint(c.auto_complete_hint);
    req.set_autocomplete_data_json(c.autocomplete_data_json);
    req.set_icon(c.icon);
    return to_status(impl_->invoke("RegisterCommand", &Impl::Stub::RegisterCommand, req));
}

Status ApiClient::unregister_command(std::string const& team_id, std::string const& trigger) {
    v1::UnregisterCommandRequest req;
    req.set_team_id(team_id);
    req.set_trigger(trigger);
    return to_status(impl_->invoke("UnregisterCommand", &Impl::Stub::UnregisterCommand, req));
}

Result<MmUserId> ApiClient::ensure_bot(mm::Bot const& bot) {
    v1::EnsureBotRequest req;
    req.set_username(bot.username);
    req.set_display_name(bot.display_name);
    req.set_description(bot.description);
    req.set_profile_image(bot.profile_image);
    auto r = impl_->invoke("EnsureBot", &Impl::Stub::EnsureBot, req);
    if (!r) {
        return std::unexpected(r.error());
    }
    return MmUserId(r->id());
}

Result<mm::User> ApiClient::get_user(MmUserId const& id) {
    v1::IdRequest req;
    req.set_id(id.str());
    auto r = impl_->invoke("GetUser", &Impl::Stub::GetUser, req);
    if (!r) {
        return std::unexpected(r.error());
    }
    return from_proto(r->user());
}

Result<mm::User> ApiClient::get_user_by_email(std::string const& email) {
    v1::ValueRequest req;
    req.set_value(email);
    auto r = impl_->invoke("GetUserByEmail", &Impl::Stub::GetUserByEmail, req);
    if (!r) {
        return std::unexpected(r.error());
    }
    return from_proto(r->user());
}

Result<mm::User> ApiClient::get_user_by_username(std::string const& username) {
    v1::ValueRequest req;
    req.set_value(username);
    auto r = impl_->invoke("GetUserByUsername", &Impl::Stub::GetUserByUsername, req);
    if (!r) {
        return std::unexpected(r.error());
    }
    return from_proto(r->user());
}

Result<bool> ApiClient::has_permission_to_channel(MmUserId const& user_id, MmChannelId const& channel_id,
                                                  std::string const& permission) {
    v1::PermissionRequest req;
    req.set_user_id(user_id.str());
    req.set_permission(permission);
    req.set_channel_id(channel_id.str());
    auto r = impl_->invoke("HasPermissionTo", &Impl::Stub::HasPermissionTo, req);
    if (!r) {
        return std::unexpected(r.error());
    }
    return r->value();
}

Result<bool> ApiClient::has_permission_to(MmUserId const& user_id, std::string const& permission) {
    v1::PermissionRequest req;
    req.set_user_id(user_id.str());
    req.set_permission(permission);
    auto r = impl_->invoke("HasPermissionTo", &Impl::Stub::HasPermissionTo, req);
    if (!r) {
        return std::unexpected(r.error());
    }
    return r->value();
}

Result<mm::Channel> ApiClient::get_channel(MmChannelId const& id) {
    v1::IdRequest req;
    req.set_id(id.str());
    auto r = impl_->invoke("GetChannel", &Impl::Stub::GetChannel, req);
    if (!r) {
        return std::unexpected(r.error());
    }
    return from_proto(r->channel());
}

Result<mm::Channel> ApiClient::get_direct_channel(MmUserId const& user_a, MmUserId const& user_b) {
    v1::UserPairRequest req;
    req.set_user_id_1(user_a.str());
    req.set_user_id_2(user_b.str());
    auto r = impl_->invoke("GetDirectChannel", &Impl::Stub::GetDirectChannel, req);
    if (!r) {
        return std::unexpected(r.error());
    }
    return from_proto(r->channel());
}

Result<mm::Post> ApiClient::create_post(mm::Post const& post) {
    v1::PostRequest req;
    to_proto(post, *req.mutable_post());
    auto r = impl_->invoke("CreatePost", &Impl::Stub::CreatePost, req);
    if (!r) {
        return std::unexpected(r.error());
    }
    return from_proto(r->post());
}

Result<mm::Post> ApiClient::send_ephemeral_post(MmUserId const& user_id, mm::Post const& post) {
    v1::EphemeralPostRequest req;
    req.set_user_id(user_id.str());
    to_proto(post, *req.mutable_post());
    auto r = impl_->invoke("SendEphemeralPost", &Impl::Stub::SendEphemeralPost, req);
    if (!r) {
        return std::unexpected(r.error());
    }
    return from_proto(r->post());
}

Status ApiClient::publish_websocket_event(std::string const& event, std::string const& payload_json,
                                          mm::Broadcast const& broadcast) {
    v1::WebSocketEventRequest req;
    req.set_event(event);
    req.set_payload_json(payload_json);
    req.set_user_id(broadcast.user_id.str());
    req.set_channel_id(broadcast.channel_id.str());
    req.set_team_id(broadcast.team_id);
    req.set_all_users(broadcast.all_users);
    return to_status(impl_->invoke("PublishWebSocketEvent", &Impl::Stub::PublishWebSocketEvent, req));
}

Result<mm::User> ApiClient::create_user(mm::User const& user, std::string const& password) {
    v1::CreateUserRequest req;
    to_proto(user, *req.mutable_user());
    req.set_password(password);
    auto r = impl_->invoke("CreateUser", &Impl::Stub::CreateUser, req);
    if (!r) {
        return std::unexpected(r.error());
    }
    return from_proto(r->user());
}

Result<mm::User> ApiClient::update_user(mm::User const& user) {
    v1::UserRequest req;
    to_proto(user, *req.mutable_user());
    auto r = impl_->invoke("UpdateUser", &Impl::Stub::UpdateUser, req);
    if (!r) {
        return std::unexpected(r.error());
    }
    return from_proto(r->user());
}

Status ApiClient::update_user_active(MmUserId const& user_id, bool active) {
    v1::UserActiveRequest req;
    req.set_user_id(user_id.str());
    req.set_active(active);
    return to_status(impl_->invoke("UpdateUserActive", &Impl::Stub::UpdateUserActive, req));
}

Result<std::vector<std::string>> ApiClient::get_team_ids_for_user(MmUserId const& user_id) {
    v1::IdRequest req;
    req.set_id(user_id.str());
    auto r = impl_->invoke("GetTeamIdsForUser", &Impl::Stub::GetTeamIdsForUser, req);
    if (!r) {
        return std::unexpected(r.error());
    }
    return std::vector<std::string>(r->ids().begin(), r->ids().end());
}

Result<std::vector<std::string>> ApiClient::get_group_names_for_user(MmUserId const& user_id) {
    v1::IdRequest req;
    req.set_id(user_id.str());
    auto r = impl_->invoke("GetGroupNamesForUser", &Impl::Stub::GetGroupNamesForUser, req);
    if (!r) {
        return std::unexpected(r.error());
    }
    return std::vector<std::string>(r->ids().begin(), r->ids().end());
}

Result<mm::Session> ApiClient::create_session(MmUserId const& user_id,
                                              std::map<std::string, std::string> const& props) {
    v1::CreateSessionRequest req;
    req.set_user_id(user_id.str());
    req.mutable_props()->insert(props.begin(), props.end());
    auto r = impl_->invoke("CreateSession", &Impl::Stub::CreateSession, req);
    if (!r) {
        return std::unexpected(r.error());
    }
    mm::Session out;
    out.token = r->token();
    out.user_id = MmUserId(r->user_id());
    out.csrf = r->csrf();
    out.expires_at = r->expires_at();
    out.cookie_path = r->cookie_path().empty() ? "/" : r->cookie_path();
    return out;
}

Status ApiClient::add_team_member(std::string const& team_id, MmUserId const& user_id) {
    v1::TeamMemberRequest req;
    req.set_team_id(team_id);
    req.set_user_id(user_id.str());
    return to_status(impl_->invoke("CreateTeamMember", &Impl::Stub::CreateTeamMember, req));
}

Status ApiClient::update_preference(MmUserId const& user_id, std::string const& category, std::string const& name,
                                    std::string const& value) {
    v1::PreferenceRequest req;
    req.set_user_id(user_id.str());
    req.set_category(category);
    req.set_name(name);
    req.set_value(value);
    return to_status(impl_->invoke("UpdatePreference", &Impl::Stub::UpdatePreference, req));
}

Status ApiClient::set_profile_image(MmUserId const& user_id, std::string const& image) {
    if (image.size() > kMaxFileBytes) {
        return fail(ErrorCode::too_large, "A profile image of " + std::to_string(image.size()) + " bytes is too large");
    }
    v1::ProfileImageRequest req;
    req.set_user_id(user_id.str());
    req.set_image(image);
    return to_status(impl_->invoke("SetProfileImage", &Impl::Stub::SetProfileImage, req));
}

Status ApiClient::update_user_status(MmUserId const& user_id, std::string const& status) {
    v1::UserStatusRequest req;
    req.set_user_id(user_id.str());
    req.set_status(status);
    return to_status(impl_->invoke("UpdateUserStatus", &Impl::Stub::UpdateUserStatus, req));
}

Result<mm::Channel> ApiClient::get_group_channel(std::vector<MmUserId> const& user_ids) {
    v1::UserIdsRequest req;
    for (auto const& id : user_ids) {
        req.add_user_ids(id.str());
    }
    auto r = impl_->invoke("GetGroupChannel", &Impl::Stub::GetGroupChannel, req);
    if (!r) {
        return std::unexpected(r.error());
    }
    return from_proto(r->channel());
}

Result<std::vector<MmUserId>> ApiClient::get_channel_member_ids(MmChannelId const& channel_id, int page, int per_page) {
    v1::ChannelMembersRequest req;
    req.set_channel_id(channel_id.str());
    req.set_page(page);
    req.set_per_page(per_page);
    auto r = impl_->invoke("GetChannelMemberIds", &Impl::Stub::GetChannelMemberIds, req);
    if (!r) {
        return std::unexpected(r.error());
    }
    return ids_of(r->ids());
}

Result<mm::ChannelMember> ApiClient::get_channel_member(MmChannelId const& channel_id, MmUserId const& user_id) {
    v1::ChannelMemberRequest req;
    req.set_channel_id(channel_id.str());
    req.set_user_id(user_id.str());
    auto r = impl_->invoke("GetChannelMember", &Impl::Stub::GetChannelMember, req);
    if (!r) {
        return std::unexpected(r.error());
    }
    mm::ChannelMember out;
    out.last_viewed_at = r->last_viewed_at();
    out.notify_props.insert(r->notify_props().begin(), r->notify_props().end());
    return out;
}

Result<mm::UserStatus> ApiClient::get_user_status(MmUserId const& user_id) {
    v1::IdRequest req;
    req.set_id(user_id.str());
    auto r = impl_->invoke("GetUserStatus", &Impl::Stub::GetUserStatus, req);
    if (!r) {
        return std::unexpected(r.error());
    }
    return mm::UserStatus{r->status(), r->last_activity_at(), r->manual()};
}

Result<std::vector<MmUserId>> ApiClient::get_active_user_ids_in_role(std::string const& role) {
    v1::ValueRequest req;
    req.set_value(role);
    auto r = impl_->invoke("GetActiveUserIdsInRole", &Impl::Stub::GetActiveUserIdsInRole, req);
    if (!r) {
        return std::unexpected(r.error());
    }
    return ids_of(r->ids());
}

Result<mm::Post> ApiClient::get_post(MmPostId const& id) {
    v1::IdRequest req;
    req.set_id(id.str());
    auto r = impl_->invoke("GetPost", &Impl::Stub::GetPost, req);
    if (!r) {
        return std::unexpected(r.error());
    }
    return from_proto(r->post());
}

Result<mm::Post> ApiClient::update_post(mm::Post const& post) {
    v1::PostRequest req;
    to_proto(post, *req.mutable_post());
    auto r = impl_->invoke("UpdatePost", &Impl::Stub::UpdatePost, req);
    if (!r) {
        return std::unexpected(r.error());
    }
    return from_proto(r->post());
}

Status ApiClient::delete_post(MmPostId const& id) {
    v1::IdRequest req;
    req.set_id(id.str());
    return to_status(impl_->invoke("DeletePost", &Impl::Stub::DeletePost, req));
}

Result<std::vector<mm::Post>> ApiClient::get_posts_since(MmChannelId const& channel_id, std::int64_t since_ms) {
    v1::PostsSinceRequest req;
    req.set_channel_id(channel_id.str());
    req.set_since(since_ms);
    auto r = impl_->invoke("GetPostsSince", &Impl::Stub::GetPostsSince, req);
    if (!r) {
        return std::unexpected(r.error());
    }
    std::vector<mm::Post> out;
    out.reserve(static_cast<std::size_t>(r->posts_size()));
    for (auto const& p : r->posts()) {
        out.push_back(from_proto(p));
    }
    return out;
}

Result<mm::PostThread> ApiClient::get_post_thread(MmPostId const& id) {
    v1::IdRequest req;
    req.set_id(id.str());
    auto r = impl_->invoke("GetPostThread", &Impl::Stub::GetPostThread, req);
    if (!r) {
        return std::unexpected(r.error());
    }
    mm::PostThread out;
    out.truncated = r->truncated();
    out.posts.reserve(static_cast<std::size_t>(r->posts_size()));
    for (auto const& p : r->posts()) {
        out.posts.push_back(from_proto(p));
    }
    return out;
}

Result<mm::Reaction> ApiClient::add_reaction(mm::Reaction const& reaction) {
    v1::ReactionRequest req;
    to_proto(reaction, *req.mutable_reaction());
    auto r = impl_->invoke("AddReaction", &Impl::Stub::AddReaction, req);
    if (!r) {
        return std::unexpected(r.error());
    }
    return from_proto(r->reaction());
}

Status ApiClient::remove_reaction(mm::Reaction const& reaction) {
    v1::ReactionRequest req;
    to_proto(reaction, *req.mutable_reaction());
    return to_status(impl_->invoke("RemoveReaction", &Impl::Stub::RemoveReaction, req));
}

Result<std::vector<mm::Reaction>> ApiClient::get_reactions(MmPostId const& post_id) {
    v1::IdRequest req;
    req.set_id(post_id.str());
    auto r = impl_->invoke("GetReactions", &Impl::Stub::GetReactions, req);
    if (!r) {
        return std::unexpected(r.error());
    }
    std::vector<mm::Reaction> out;
    out.reserve(static_cast<std::size_t>(r->reactions_size()));
    for (auto const& reaction : r->reactions()) {
        out.push_back(from_proto(reaction));
    }
    return out;
}

Result<mm::FileInfo> ApiClient::upload_file(MmUserId const& user_id, MmChannelId const& channel_id,
                                            std::string const& name, std::string const& data) {
    if (data.size() > kMaxFileBytes) {
        return fail(ErrorCode::too_large,
                    "the file \"" + name + "\" of " + std::to_string(data.size()) +
                        " bytes is larger than the bridge's limit of " + std::to_string(kMaxFileBytes) + " bytes",
                    413);
    }
    v1::UploadFileRequest req;
    req.set_user_id(user_id.str());
    req.set_channel_id(channel_id.str());
    req.set_name(name);
    req.set_data(data);
    auto r = impl_->invoke("UploadFile", &Impl::Stub::UploadFile, req, std::max(impl_->deadline, kFileDeadline));
    if (!r) {
        return std::unexpected(r.error());
    }
    return from_proto(r->file_info());
}

Result<mm::FileInfo> ApiClient::get_file_info(std::string const& file_id) {
    v1::IdRequest req;
    req.set_id(file_id);
    auto r = impl_->invoke("GetFileInfo", &Impl::Stub::GetFileInfo, req);
    if (!r) {
        return std::unexpected(r.error());
    }
    return from_proto(r->file_info());
}

Result<std::string> ApiClient::get_file(std::string const& file_id) {
    v1::IdRequest req;
    req.set_id(file_id);
    auto r = impl_->invoke("GetFile", &Impl::Stub::GetFile, req, std::max(impl_->deadline, kFileDeadline));
    if (!r) {
        return std::unexpected(r.error());
    }
    return std::move(*r->mutable_data());
}

namespace {

class ApiLogSink final : public log::Sink {
public:
    explicit ApiLogSink(std::shared_ptr<mm::Api> api) : api_(std::move(api)) {}
    void write(log::Level level, std::string_view message, log::Fields const& fields) noexcept override {
        api_->log(level, message, fields);
    }

private:
    std::shared_ptr<mm::Api> api_;
};

}  // namespace

std::shared_ptr<log::Sink> make_api_log_sink(std::shared_ptr<mm::Api> api) {
    return std::make_shared<ApiLogSink>(std::move(api));
}

}  // namespace msteams::rpc
