#include "rpc/proto_mapping.hpp"

namespace msteams::rpc {

// Ids in messages from the shim come from Mattermost's own server: taken as they are.

mm::Post from_proto(v1::Post const& p) {
    mm::Post out;
    out.id = MmPostId(p.id());
    out.create_at = p.create_at();
    out.update_at = p.update_at();
    out.delete_at = p.delete_at();
    out.user_id = MmUserId(p.user_id());
    out.channel_id = MmChannelId(p.channel_id());
    out.root_id = MmPostId(p.root_id());
    out.message = p.message();
    out.type = p.type();
    out.props_json = p.props_json();
    out.file_ids.assign(p.file_ids().begin(), p.file_ids().end());
    return out;
}

mm::User from_proto(v1::User const& u) {
    mm::User out;
    out.id = MmUserId(u.id());
    out.username = u.username();
    out.auth_data = u.auth_data();
    out.auth_service = u.auth_service();
    out.email = u.email();
    out.email_verified = u.email_verified();
    out.nickname = u.nickname();
    out.first_name = u.first_name();
    out.last_name = u.last_name();
    out.position = u.position();
    out.is_bot = u.is_bot();
    out.deactivated = u.deactivated();
    out.props.insert(u.props().begin(), u.props().end());
    out.notify_props.insert(u.notify_props().begin(), u.notify_props().end());
    return out;
}

mm::Channel from_proto(v1::Channel const& c) {
    mm::Channel out;
    out.id = MmChannelId(c.id());
    out.delete_at = c.delete_at();
    out.team_id = c.team_id();
    out.type = c.type();
    out.display_name = c.display_name();
    out.name = c.name();
    out.creator_id = MmUserId(c.creator_id());
    return out;
}

mm::Reaction from_proto(v1::Reaction const& r) {
    mm::Reaction out;
    out.user_id = MmUserId(r.user_id());
    out.post_id = MmPostId(r.post_id());
    out.emoji_name = r.emoji_name();
    out.create_at = r.create_at();
    out.channel_id = MmChannelId(r.channel_id());
    return out;
}

mm::FileInfo from_proto(v1::FileInfo const& f) {
    mm::FileInfo out;
    out.id = f.id();
    out.user_id = MmUserId(f.user_id());
    out.post_id = MmPostId(f.post_id());
    out.channel_id = MmChannelId(f.channel_id());
    out.name = f.name();
    out.extension = f.extension();
    out.size = f.size();
    out.mime_type = f.mime_type();
    return out;
}

mm::CommandArgs from_proto(v1::CommandArgs const& a) {
    mm::CommandArgs out;
    out.user_id = MmUserId(a.user_id());
    out.channel_id = MmChannelId(a.channel_id());
    out.team_id = a.team_id();
    out.root_id = MmPostId(a.root_id());
    out.command = a.command();
    out.site_url = a.site_url();
    return out;
}

app::ServerSettings from_proto(v1::ServerSettings const& s) {
    app::ServerSettings out;
    out.site_url = s.site_url();
    out.sql_driver_name = s.sql_driver_name();
    out.sql_data_source = s.sql_data_source();
    out.max_file_size = s.max_file_size();
    out.server_version = s.server_version();
    out.bundle_path = s.bundle_path();
    out.plugin_version = s.plugin_version();
    out.diagnostic_id = s.diagnostic_id();
    out.log_level = s.log_level();
    out.node_name = s.node_name();
    out.core_restarts = s.core_restarts();
    out.frame_ancestors = s.frame_ancestors();
    return out;
}

bool from_proto(v1::HookEvent const& in, app::HookEvent& out) {
    using Kind = app::HookEvent::Kind;
    out.seq = in.seq();
    switch (in.event_case()) {
        case v1::HookEvent::kMessagePosted:
            out.kind = Kind::message_posted;
            out.post = from_proto(in.message_posted());
            return true;
        case v1::HookEvent::kMessageUpdated:
            out.kind = Kind::message_updated;
            out.post = from_proto(in.message_updated().new_post());
            out.old_post = from_proto(in.message_updated().old_post());
            return true;
        case v1::HookEvent::kMessageDeleted:
            out.kind = Kind::message_deleted;
            out.post = from_proto(in.message_deleted());
            return true;
        case v1::HookEvent::kReactionAdded:
            out.kind = Kind::reaction_added;
            out.reaction = from_proto(in.reaction_added());
            return true;
        case v1::HookEvent::kReactionRemoved:
            out.kind = Kind::reaction_removed;
            out.reaction = from_proto(in.reaction_removed());
            return true;
        case v1::HookEvent::kUserLoggedIn:
            out.kind = Kind::user_logged_in;
            out.user = from_proto(in.user_logged_in());
            return true;
        case v1::HookEvent::kUserCreated:
            out.kind = Kind::user_created;
            out.user = from_proto(in.user_created());
            return true;
        case v1::HookEvent::kClusterEvent:
            out.kind = Kind::cluster_event;
            out.cluster_event_id = in.cluster_event().id();
            out.cluster_event_data = in.cluster_event().data();
            return true;
        case v1::HookEvent::kChannelCreated:
            out.kind = Kind::channel_created;
            out.channel = from_proto(in.channel_created());
            return true;
        case v1::HookEvent::EVENT_NOT_SET: break;
    }
    return false;
}

void to_proto(mm::Post const& in, v1::Post& out) {
    out.set_id(in.id.str());
    out.set_create_at(in.create_at);
    out.set_update_at(in.update_at);
    out.set_delete_at(in.delete_at);
    out.set_user_id(in.user_id.str());
    out.set_channel_id(in.channel_id.str());
    out.set_root_id(in.root_id.str());
    out.set_message(in.message);
    out.set_type(in.type);
    out.set_props_json(in.props_json);
    for (auto const& f : in.file_ids) {
        out.add_file_ids(f);
    }
}

void to_proto(mm::User const& in, v1::User& out) {
    out.set_id(in.id.str());
    out.set_username(in.username);
    out.set_auth_data(in.auth_data);
    out.set_auth_service(in.auth_service);
    out.set_email(in.email);
    out.set_email_verified(in.email_verified);
    out.set_nickname(in.nickname);
    out.set_first_name(in.first_name);
    out.set_last_name(in.last_name);
    out.set_position(in.position);
    out.set_is_bot(in.is_bot);
    out.mutable_props()->insert(in.props.begin(), in.props.end());
    out.mutable_notify_props()->insert(in.notify_props.begin(), in.notify_props.end());
}

void to_proto(mm::Reaction const& in, v1::Reaction& out) {
    out.set_user_id(in.user_id.str());
    out.set_post_id(in.post_id.str());
    out.set_emoji_name(in.emoji_name);
    out.set_create_at(in.create_at);
    out.set_channel_id(in.channel_id.str());
}

void to_proto(mm::CommandResponse const& in, v1::CommandResponse& out) {
    out.set_response_type(in.response_type);
    out.set_text(in.text);
}

Error from_app_error(v1::AppError const& e) {
    ErrorCode code = ErrorCode::internal;
    switch (e.status_code()) {
        case 400: code = ErrorCode::invalid_argument; break;
        case 401: code = ErrorCode::unauthenticated; break;
        case 403: code = ErrorCode::permission_denied; break;
        case 404: code = ErrorCode::not_found; break;
        case 409: code = ErrorCode::conflict; break;
        case 413: code = ErrorCode::too_large; break;
        case 429:
        case 503: code = ErrorCode::unavailable; break;
        default: break;
    }
    // Mattermost answers some "it is not there" cases with 400 (DeletePost on a post already deleted answers
    // app.post.get.app_error): by the AppError's id, they are not_found, so that "already done" is success.
    if (code == ErrorCode::invalid_argument && e.id() == "app.post.get.app_error") {
        code = ErrorCode::not_found;
    }
    std::string message = e.message().empty() ? e.id() : e.message();
    if (!e.detailed_error().empty()) {
        message += ": " + e.detailed_error();
    }
    if (!e.id().empty() && !e.message().empty()) {
        message += " [" + e.id() + "]";
    }
    Error out{code, std::move(message), e.status_code(), {}};
    out.peer_id = e.id();
    return out;
}

}  // namespace msteams::rpc
