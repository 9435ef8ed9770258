//! The diesel table definitions, shared by the SQLite and PostgreSQL backends.

diesel::table! {
    users (id) {
        id -> Text,
        username -> Text,
        display_name -> Text,
        password_hash -> Text,
        is_owner -> Bool,
        created_at -> BigInt,
        password_changed_at -> BigInt,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        user_id -> Text,
        created_at -> BigInt,
        last_seen_at -> BigInt,
        expires_at -> BigInt,
        user_agent -> Nullable<Text>,
        ip -> Nullable<Text>,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> Text,
        user_id -> Text,
        name -> Text,
        token_hash -> Text,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
        expires_at -> Nullable<BigInt>,
        scope -> Text,
    }
}

diesel::table! {
    settings (key) {
        key -> Text,
        value -> Text,
    }
}

diesel::table! {
    libraries (id) {
        id -> Text,
        name -> Text,
        emoji -> Nullable<Text>,
        is_personal -> Bool,
        owner_id -> Text,
        face_recognition_enabled -> Bool,
        object_detection_enabled -> Bool,
        sharing_enabled -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
        import_path -> Nullable<Text>,
        speech_language -> Text,
    }
}

diesel::table! {
    library_members (library_id, user_id) {
        library_id -> Text,
        user_id -> Text,
        role -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    library_invites (id) {
        id -> Text,
        library_id -> Text,
        token_hash -> Text,
        role -> Text,
        created_by -> Text,
        max_uses -> Nullable<Integer>,
        uses -> Integer,
        expires_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
        created_at -> BigInt,
    }
}

diesel::table! {
    folders (id) {
        id -> Text,
        library_id -> Text,
        parent_id -> Nullable<Text>,
        name -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        trashed_at -> Nullable<BigInt>,
        source_path -> Nullable<Text>,
    }
}

diesel::table! {
    files (id) {
        id -> Text,
        library_id -> Text,
        folder_id -> Nullable<Text>,
        name -> Text,
        blob_key -> Text,
        sha256 -> Nullable<Text>,
        size -> BigInt,
        mime -> Text,
        kind -> Text,
        uploaded_by -> Nullable<Text>,
        source_file_id -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
        trashed_at -> Nullable<BigInt>,
        source_path -> Nullable<Text>,
        source_mtime -> Nullable<BigInt>,
        captured_at -> Nullable<BigInt>,
        captured_at_source -> Nullable<Text>,
        width -> Nullable<Integer>,
        height -> Nullable<Integer>,
        duration_ms -> Nullable<BigInt>,
        media_info -> Nullable<Text>,
        sidecar -> Nullable<Text>,
        thumbhash -> Nullable<Text>,
        latitude -> Nullable<Double>,
        longitude -> Nullable<Double>,
        place -> Nullable<Text>,
    }
}

diesel::table! {
    file_jobs (file_id, kind) {
        file_id -> Text,
        kind -> Text,
        status -> Text,
        progress -> Integer,
        eta_ms -> Nullable<BigInt>,
        error -> Nullable<Text>,
        version -> Integer,
        done_version -> Nullable<Integer>,
        attempts -> Integer,
        run_after -> BigInt,
        lease_token -> Nullable<Text>,
        lease_until -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    tus_uploads (id) {
        id -> Text,
        library_id -> Text,
        user_id -> Text,
        file_id -> Text,
        length -> BigInt,
        name -> Text,
        folder_id -> Nullable<Text>,
        finished -> Bool,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    activities (id) {
        id -> Text,
        library_id -> Text,
        actor_id -> Nullable<Text>,
        kind -> Text,
        subject_id -> Nullable<Text>,
        subject_name -> Nullable<Text>,
        created_at -> BigInt,
    }
}

diesel::table! {
    notification_marks (user_id) {
        user_id -> Text,
        cleared_at -> BigInt,
    }
}

diesel::table! {
    dismissed_notifications (user_id, activity_id) {
        user_id -> Text,
        activity_id -> Text,
    }
}

diesel::table! {
    people (id) {
        id -> Text,
        library_id -> Text,
        name -> Nullable<Text>,
        cover_face_id -> Nullable<Text>,
        hidden -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    faces (id) {
        id -> Text,
        file_id -> Text,
        library_id -> Text,
        position -> Integer,
        person_id -> Nullable<Text>,
        assigned_by -> Nullable<Text>,
        score -> Double,
        box_x -> Double,
        box_y -> Double,
        box_w -> Double,
        box_h -> Double,
        landmarks -> Text,
        embedding -> Binary,
        created_at -> BigInt,
    }
}

diesel::table! {
    file_labels (file_id, source, position) {
        file_id -> Text,
        source -> Text,
        position -> Integer,
        library_id -> Text,
        name -> Text,
        score -> Double,
        box_x -> Nullable<Double>,
        box_y -> Nullable<Double>,
        box_w -> Nullable<Double>,
        box_h -> Nullable<Double>,
    }
}

diesel::table! {
    audio_events (file_id, position) {
        file_id -> Text,
        position -> Integer,
        library_id -> Text,
        name -> Text,
        start_ms -> BigInt,
        end_ms -> BigInt,
        score -> Double,
    }
}

diesel::table! {
    transcript_segments (file_id, position) {
        file_id -> Text,
        position -> Integer,
        library_id -> Text,
        start_ms -> BigInt,
        end_ms -> BigInt,
        text -> Text,
        language -> Nullable<Text>,
    }
}

diesel::table! {
    moments (id) {
        id -> Text,
        library_id -> Text,
        file_id -> Text,
        start_ms -> BigInt,
        end_ms -> BigInt,
        title -> Text,
        description -> Text,
        tags -> Text,
        version -> Integer,
        clip_wanted -> Bool,
        clip_version -> Nullable<Integer>,
        clip_size -> Nullable<BigInt>,
        created_by -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    text_vectors (id) {
        id -> BigInt,
        digest -> Text,
        text -> Text,
        scale -> Float,
        vector -> Binary,
    }
}

diesel::table! {
    search_docs (id) {
        id -> BigInt,
        file_id -> Text,
        library_id -> Text,
        name -> Text,
        folder -> Text,
        labels -> Text,
        people -> Text,
        sounds -> Text,
        camera -> Text,
        dates -> Text,
        words -> Text,
        place -> Text,
    }
}

diesel::table! {
    shares (id) {
        id -> Text,
        library_id -> Text,
        created_by -> Nullable<Text>,
        kind -> Text,
        folder_id -> Nullable<Text>,
        moment_id -> Nullable<Text>,
        token_hash -> Text,
        token_sealed -> Text,
        title -> Nullable<Text>,
        message -> Nullable<Text>,
        expires_at -> Nullable<BigInt>,
        password_hash -> Nullable<Text>,
        allow_download -> Bool,
        show_location -> Bool,
        show_metadata -> Bool,
        revoked_at -> Nullable<BigInt>,
        views -> BigInt,
        last_viewed_at -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    share_files (share_id, file_id) {
        share_id -> Text,
        file_id -> Text,
        position -> Integer,
    }
}

diesel::table! {
    share_visits (share_id, visitor, hour) {
        share_id -> Text,
        visitor -> Text,
        hour -> BigInt,
    }
}

diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(api_tokens -> users (user_id));
diesel::joinable!(library_members -> users (user_id));
diesel::joinable!(library_members -> libraries (library_id));
diesel::joinable!(library_invites -> libraries (library_id));
diesel::joinable!(folders -> libraries (library_id));
diesel::joinable!(files -> libraries (library_id));
diesel::joinable!(files -> folders (folder_id));
diesel::joinable!(file_jobs -> files (file_id));
diesel::joinable!(activities -> libraries (library_id));
diesel::joinable!(faces -> files (file_id));
diesel::joinable!(faces -> people (person_id));
diesel::joinable!(file_labels -> files (file_id));
diesel::joinable!(audio_events -> files (file_id));
diesel::joinable!(transcript_segments -> files (file_id));
diesel::joinable!(moments -> files (file_id));
diesel::joinable!(search_docs -> files (file_id));
diesel::joinable!(share_files -> shares (share_id));
diesel::joinable!(share_files -> files (file_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    text_vectors,
    sessions,
    api_tokens,
    settings,
    libraries,
    library_members,
    library_invites,
    folders,
    files,
    file_jobs,
    tus_uploads,
    activities,
    notification_marks,
    dismissed_notifications,
    people,
    faces,
    file_labels,
    audio_events,
    transcript_segments,
    moments,
    shares,
    share_files,
    share_visits,
    search_docs,
);
