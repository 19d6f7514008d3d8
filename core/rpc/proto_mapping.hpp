#pragma once

// Conversions between the generated protobuf types and the core's domain types. Only the rpc module includes this.
#include "app/config.hpp"
#include "app/core.hpp"
#include "common/result.hpp"
#include "mm/types.hpp"
#include "msteams.pb.h"

namespace msteams::rpc {

mm::Post from_proto(v1::Post const& p);
mm::User from_proto(v1::User const& u);
mm::Channel from_proto(v1::Channel const& c);
mm::Reaction from_proto(v1::Reaction const& r);
mm::FileInfo from_proto(v1::FileInfo const& f);
mm::CommandArgs from_proto(v1::CommandArgs const& a);
app::ServerSettings from_proto(v1::ServerSettings const& s);
// Returns false for an event with no payload (a newer shim's kind this core does not know).
bool from_proto(v1::HookEvent const& in, app::HookEvent& out);

void to_proto(mm::Post const& in, v1::Post& out);
void to_proto(mm::User const& in, v1::User& out);
void to_proto(mm::Reaction const& in, v1::Reaction& out);
void to_proto(mm::CommandResponse const& in, v1::CommandResponse& out);

// An AppError from the server as an Error: the status code decides the ErrorCode, the text keeps the id.
Error from_app_error(v1::AppError const& e);

}  // namespace msteams::rpc
