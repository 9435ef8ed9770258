//! Handlers, one module per area, and the exhaustive dispatch from [`Route`] to handler.

mod activity;
mod admin;
mod archive;
mod auth;
pub mod bodies;
pub mod dav;
mod files;
mod findings;
mod folders;
mod imports;
mod invites;
mod jobs;
mod libraries;
pub mod live;
mod map;
pub mod media;
mod moments;
pub mod openapi;
mod people;
mod proxy_cache;
mod search;
mod shared;
mod shares;
pub mod state;
mod system;
mod timeline;
pub mod tus;

use std::sync::Arc;

use http::Response;

use crate::http::error::ApiResult;
use crate::http::request::Ctx;
use crate::http::response::Body;
use crate::http::routes::Route;
use files::BulkChange;
use state::ApiState;

/// Runs the handler for `route`. The access check has already passed.
pub async fn dispatch(
    app: &Arc<ApiState>,
    ctx: &mut Ctx,
    route: Route,
) -> ApiResult<Response<Body>> {
    match route {
        Route::Health {} => system::health(app).await,
        Route::Version {} => system::version(),
        Route::OpenApi {} => openapi::serve(),
        Route::AuthConfig {} => auth::config(app).await,
        Route::Register {} => auth::register(app, ctx).await,
        Route::Login {} => auth::login(app, ctx).await,
        Route::Logout {} => auth::logout(app, ctx).await,
        Route::GetSession {} => auth::session(ctx),
        Route::ListSessions {} => auth::list_sessions(app, ctx).await,
        Route::RevokeSession { session } => auth::revoke_session(app, ctx, session).await,
        Route::UpdateProfile {} => auth::update_profile(app, ctx).await,
        Route::ChangePassword {} => auth::change_password(app, ctx).await,
        Route::ListTokens {} => auth::list_tokens(app, ctx).await,
        Route::CreateToken {} => auth::create_token(app, ctx).await,
        Route::RevokeToken { token } => auth::revoke_token(app, ctx, token).await,
        Route::GetInvite { token } => invites::preview(app, &token).await,
        Route::AcceptInvite { token } => invites::accept(app, ctx, &token).await,
        Route::LiveEvents {} => live::websocket(app, ctx).await,
        Route::ListNotifications {} => activity::list(app, ctx).await,
        Route::DismissNotification { activity } => activity::dismiss(app, ctx, activity).await,
        Route::ClearNotifications {} => activity::clear(app, ctx).await,
        Route::ListLibraries {} => libraries::list(app, ctx).await,
        Route::CreateLibrary {} => libraries::create(app, ctx).await,
        Route::GetLibrary { .. } => libraries::get(ctx),
        Route::UpdateLibrary { .. } => libraries::update(app, ctx).await,
        Route::DeleteLibrary { .. } => libraries::delete(app, ctx).await,
        Route::ListMembers { .. } => libraries::list_members(app, ctx).await,
        Route::UpdateMember { user, .. } => libraries::update_member(app, ctx, user).await,
        Route::RemoveMember { user, .. } => libraries::remove_member(app, ctx, user).await,
        Route::LeaveLibrary { .. } => libraries::leave(app, ctx).await,
        Route::ListInvites { .. } => invites::list(app, ctx).await,
        Route::CreateInvite { .. } => invites::create(app, ctx).await,
        Route::RevokeInvite { invite, .. } => invites::revoke(app, ctx, invite).await,
        Route::ListFiles { .. } => files::list(app, ctx).await,
        Route::UploadFile { .. } => files::upload(app, ctx).await,
        Route::GetFile { file, .. } => files::get(app, ctx, file).await,
        Route::UpdateFile { file, .. } => files::update(app, ctx, file).await,
        Route::PurgeFile { file, .. } => files::purge(app, ctx, file).await,
        Route::TrashFile { file, .. } => files::set_trashed(app, ctx, file, true).await,
        Route::RestoreFile { file, .. } => files::set_trashed(app, ctx, file, false).await,
        Route::TrashFiles { .. } => files::change_many(app, ctx, BulkChange::Trash).await,
        Route::RestoreFiles { .. } => files::change_many(app, ctx, BulkChange::Restore).await,
        Route::PurgeFiles { .. } => files::change_many(app, ctx, BulkChange::Purge).await,
        Route::DownloadFile { file, .. } => files::download(app, ctx, file).await,
        Route::Thumbnail { file, size, .. } => media::thumbnail(app, ctx, file, &size).await,
        Route::PlaybackSources { file, .. } => media::playback_sources(app, ctx, file).await,
        Route::Playback { file, .. } => media::playback(app, ctx, file).await,
        Route::Waveform { file, .. } => media::waveform(app, ctx, file).await,
        Route::ImageProxy { file, name, .. } => media::image_proxy(app, ctx, file, &name).await,
        Route::ListDuplicates { .. } => files::duplicates(app, ctx).await,
        Route::ReprocessFile { file, .. } => files::reprocess(app, ctx, file, None).await,
        Route::ReprocessLibrary { .. } => files::reprocess_library(app, ctx, None).await,
        Route::ReprocessFileStage { file, stage, .. } => {
            files::reprocess(app, ctx, file, Some(&stage)).await
        }
        Route::ReprocessLibraryStage { stage, .. } => {
            files::reprocess_library(app, ctx, Some(&stage)).await
        }
        Route::ListPeople { .. } => people::list(app, ctx).await,
        Route::UpdatePerson { person, .. } => people::update(app, ctx, person).await,
        Route::MergePeople { person, .. } => people::merge(app, ctx, person).await,
        Route::SplitPerson { person, .. } => people::split(app, ctx, person).await,
        Route::PersonThumbnail { person, .. } => people::thumbnail(app, ctx, person).await,
        Route::Recluster { .. } => people::recluster(app, ctx).await,
        Route::FileFaces { file, .. } => people::file_faces(app, ctx, file).await,
        Route::ListLabels { .. } => findings::labels(app, ctx).await,
        Route::FileLabels { file, .. } => findings::file_labels(app, ctx, file).await,
        Route::FileAudioEvents { file, .. } => findings::file_sound_events(app, ctx, file).await,
        Route::Transcript { file, .. } => findings::transcript(app, ctx, file).await,
        Route::LibraryFeed { .. } => activity::feed(app, ctx).await,
        Route::ZipEstimate { .. } => archive::estimate(app, ctx).await,
        Route::ZipDownload { .. } => archive::download(app, ctx).await,
        Route::TusOptions { .. } => tus::options(app),
        Route::TusCreate { .. } => tus::create(app, ctx).await,
        Route::TusHead { upload, .. } => tus::head(app, ctx, upload).await,
        Route::TusPatch { upload, .. } => tus::patch(app, ctx, upload).await,
        Route::TusDelete { upload, .. } => tus::terminate(app, ctx, upload).await,
        Route::ListFileMoments { file, .. } => moments::of_file(app, ctx, file).await,
        Route::CreateMoment { file, .. } => moments::create(app, ctx, file).await,
        Route::GetMoment { file, moment, .. } => moments::get(app, ctx, file, moment).await,
        Route::UpdateMoment { file, moment, .. } => moments::update(app, ctx, file, moment).await,
        Route::DeleteMoment { file, moment, .. } => moments::delete(app, ctx, file, moment).await,
        Route::ExportMoment { file, moment, .. } => moments::export(app, ctx, file, moment).await,
        Route::MomentClip { file, moment, .. } => moments::clip(app, ctx, file, moment).await,
        Route::ListMoments { .. } => moments::of_library(app, ctx).await,
        Route::ListShares { .. } => shares::list(app, ctx).await,
        Route::CreateShare { .. } => shares::create(app, ctx).await,
        Route::GetShare { share, .. } => shares::get(app, ctx, share).await,
        Route::UpdateShare { share, .. } => shares::update(app, ctx, share).await,
        Route::RevokeShare { share, .. } => shares::revoke(app, ctx, share).await,
        Route::SharedLink { token } => shared::get(app, ctx, &token).await,
        Route::UnlockShare { token } => shared::unlock(app, ctx, &token).await,
        Route::SharedThumbnail { token, file, size } => {
            shared::thumbnail(app, ctx, &token, file, &size).await
        }
        Route::SharedPlayback { token, file } => shared::playback(app, ctx, &token, file).await,
        Route::SharedOriginal { token, file } => shared::original(app, ctx, &token, file).await,
        Route::SharedClip { token } => shared::clip(app, ctx, &token).await,
        Route::SharedZip { token } => shared::zip(app, ctx, &token).await,
        Route::CreateImport { .. } => imports::create(app, ctx).await,
        Route::UploadImportPart { import, .. } => imports::upload_part(app, ctx, import).await,
        Route::StartImport { import, .. } => imports::start(app, ctx, import).await,
        Route::GetImport { import, .. } => imports::get(app, ctx, import).await,
        Route::TimelineBuckets { .. } => timeline::buckets(app, ctx).await,
        Route::TimelineBucket { day, .. } => timeline::bucket(app, ctx, &day).await,
        Route::Memories { .. } => timeline::memories(app, ctx).await,
        Route::Map { .. } => map::clusters(app, ctx).await,
        Route::Search { .. } => search::search(app, ctx).await,
        Route::ListFolders { .. } => folders::list(app, ctx).await,
        Route::CreateFolder { .. } => folders::create(app, ctx).await,
        Route::GetFolder { folder, .. } => folders::get(app, ctx, folder).await,
        Route::UpdateFolder { folder, .. } => folders::update(app, ctx, folder).await,
        Route::PurgeFolder { folder, .. } => folders::purge(app, ctx, folder).await,
        Route::TrashFolder { folder, .. } => folders::set_trashed(app, ctx, folder, true).await,
        Route::RestoreFolder { folder, .. } => folders::set_trashed(app, ctx, folder, false).await,
        Route::JobCounts {} => jobs::counts(app).await,
        Route::FailedJobs {} => jobs::failed(app, ctx).await,
        Route::ReprocessAll {} => jobs::reprocess_all(app, ctx).await,
        Route::RetryJob { kind, file } => jobs::retry(app, &kind, file).await,
        Route::RemoveJob { kind, file } => jobs::remove(app, &kind, file).await,
        Route::PurgeFailedJobs {} => jobs::purge_failed(app).await,
        Route::ListUsers {} => admin::list_users(app).await,
        Route::GetInstanceSettings {} => admin::settings(app).await,
        Route::UpdateInstanceSettings {} => admin::update_settings(app, ctx).await,
    }
}
