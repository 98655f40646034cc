//! Teams workload data beyond chats: online meetings with their recordings (content items
//! streamed into packs), and users' status messages (short text), all encrypted under the
//! current Teams workload key as chat messages and hosted contents are. The tenant's
//! multi-workload DEP wraps that key once one is assigned; moving the assignment re-wraps it,
//! so nothing here is re-encrypted. Writes follow the "at least one licensed user" rule; reads
//! are user requests (no availability-key fallback).

use std::io;
use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::keys::{parse_guid, request_id, Purpose, ServiceKeys};
use super::m365::{content_type_of, current_workload_key, open_workload_key, Limited};
use super::{now, Error, ErrorKind, Result};
use crate::crypto::{ContentBinding, WorkloadKey};
use crate::store::{
    MeetingRow, PackAppender, PresenceStatusRow, RecipientRow, RecipientScope, RecordingRow, Store,
};

/// The largest recording `Add-CustomerKeyMeetingRecording` takes (custkey's limit; Teams stops
/// a recording after four hours).
pub const MAX_RECORDING_BYTES: u64 = 4 << 30;
/// The longest status message, in characters, as Teams allows.
pub const MAX_STATUS_CHARS: usize = 280;

/// An online meeting (`New-MgUserOnlineMeeting` / `Get-MgUserOnlineMeeting`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OnlineMeeting {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "Subject")]
    pub subject: String,
    #[serde(rename = "StartDateTime")]
    pub start_date_time: String,
    #[serde(rename = "EndDateTime")]
    pub end_date_time: String,
    #[serde(rename = "CreationDateTime")]
    pub creation_date_time: String,
    #[serde(rename = "JoinWebUrl")]
    pub join_web_url: String,
    /// The organizer (the user the meeting belongs to).
    #[serde(rename = "Organizer")]
    pub organizer: String,
    #[serde(rename = "RecordingCount")]
    pub recording_count: usize,
}

/// A recording of a meeting (`Get-MgUserOnlineMeetingRecording`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Recording {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "MeetingId")]
    pub meeting_id: String,
    #[serde(rename = "MeetingOrganizer")]
    pub meeting_organizer: String,
    #[serde(rename = "CreatedDateTime")]
    pub created_date_time: String,
    #[serde(rename = "ContentType")]
    pub content_type: String,
    #[serde(rename = "Size")]
    pub size: u64,
    #[serde(rename = "RecordingContentUrl")]
    pub recording_content_url: String,
    /// The policy whose key wraps the workload key the recording is encrypted under.
    #[serde(rename = "EncryptionPolicy")]
    pub encryption_policy: String,
    /// Where `-OutFile` wrote the content (not shown otherwise).
    #[serde(rename = "OutFile", skip_serializing_if = "Option::is_none")]
    pub out_file: Option<String>,
}

/// Graph's itemBody.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ItemBody {
    #[serde(rename = "Content")]
    pub content: String,
    #[serde(rename = "ContentType")]
    pub content_type: String,
}

/// Graph's dateTimeTimeZone.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DateTimeTimeZone {
    #[serde(rename = "DateTime")]
    pub date_time: String,
    #[serde(rename = "TimeZone")]
    pub time_zone: String,
}

/// Graph's presenceStatusMessage.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StatusMessage {
    #[serde(rename = "Message")]
    pub message: ItemBody,
    #[serde(rename = "ExpiryDateTime")]
    pub expiry_date_time: Option<DateTimeTimeZone>,
    #[serde(rename = "PublishedDateTime")]
    pub published_date_time: String,
}

/// A user's presence as `Get-MgUserPresence` shows it. Availability and activity are not
/// modelled (always `PresenceUnknown`); the status message is.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Presence {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "Availability")]
    pub availability: String,
    #[serde(rename = "Activity")]
    pub activity: String,
    #[serde(rename = "StatusMessage")]
    pub status_message: Option<StatusMessage>,
    /// The policy whose key protects the status message; empty when there is none.
    #[serde(rename = "EncryptionPolicy")]
    pub encryption_policy: String,
}

fn user(store: &mut Store, who: &str) -> Result<RecipientRow> {
    super::recipient::get(store, who, RecipientScope::All)
}

fn user_name(u: &RecipientRow) -> String {
    u.upn.clone().unwrap_or_else(|| u.primary_smtp.clone())
}

fn present_meeting(m: MeetingRow, organizer: &str, recordings: usize) -> OnlineMeeting {
    OnlineMeeting {
        join_web_url: format!("https://teams.microsoft.com/l/meetup-join/{}", m.guid),
        id: m.guid,
        subject: m.subject,
        start_date_time: m.start_time,
        end_date_time: m.end_time,
        creation_date_time: m.when_created,
        organizer: organizer.to_string(),
        recording_count: recordings,
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `New-MgUserOnlineMeeting -UserId -Subject [-StartDateTime] [-EndDateTime]`: a meeting the
/// user organizes; it starts now and lasts an hour unless told otherwise.
pub fn new_meeting(
    store: &mut Store,
    organizer: &str,
    subject: &str,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
) -> Result<OnlineMeeting> {
    let u = user(store, organizer)?;
    let subject = subject.trim();
    if subject.len() > 255 || subject.chars().any(char::is_control) {
        return Err(
            Error::invalid(format!("'{subject}' is not a valid meeting subject"))
                .with_help("give at most 255 printable characters"),
        );
    }
    let start = start.unwrap_or_else(Utc::now);
    let end = end.unwrap_or(start + Duration::hours(1));
    if end <= start {
        return Err(Error::invalid(format!(
            "the meeting ends ({}) before it starts ({})",
            rfc3339(end),
            rfc3339(start)
        ))
        .with_help("give an -EndDateTime after -StartDateTime"));
    }
    let row = MeetingRow {
        guid: Uuid::new_v4().to_string(),
        organizer_guid: u.guid.clone(),
        subject: subject.to_string(),
        start_time: rfc3339(start),
        end_time: rfc3339(end),
        when_created: now(),
    };
    store.write(|tx| -> Result<_> { Ok(tx.insert_meeting(&row)?) })?;
    Ok(present_meeting(row, &user_name(&u), 0))
}

fn resolve_meeting(store: &mut Store, u: &RecipientRow, id: &str) -> Result<MeetingRow> {
    let all = store.read(|tx| -> Result<_> { Ok(tx.meetings_of(&u.guid)?) })?;
    if let Some(m) = all.iter().find(|m| m.guid.eq_ignore_ascii_case(id)) {
        return Ok(m.clone());
    }
    let by_subject: Vec<_> = all
        .iter()
        .filter(|m| !m.subject.is_empty() && m.subject.eq_ignore_ascii_case(id))
        .collect();
    match by_subject.as_slice() {
        [m] => Ok((*m).clone()),
        [] => Err(Error::not_found(format!(
            "The online meeting '{id}' of '{}' couldn't be found.",
            user_name(u)
        ))
        .with_help(format!(
            "list the user's meetings with 'custkey Get-MgUserOnlineMeeting -UserId {}'",
            user_name(u)
        ))),
        _ => Err(Error::invalid(format!(
            "{} meetings of '{}' have the subject '{id}'",
            by_subject.len(),
            user_name(u)
        ))
        .with_help("name the meeting by its Id (Get-MgUserOnlineMeeting lists them)")),
    }
}

/// `Get-MgUserOnlineMeeting -UserId [-OnlineMeetingId]`: one meeting (by id, or by subject when
/// it is unique), or all the user organizes.
pub fn meetings(
    store: &mut Store,
    organizer: &str,
    id: Option<&str>,
) -> Result<Vec<OnlineMeeting>> {
    let u = user(store, organizer)?;
    let rows = match id {
        Some(id) => vec![resolve_meeting(store, &u, id)?],
        None => store.read(|tx| -> Result<_> { Ok(tx.meetings_of(&u.guid)?) })?,
    };
    let name = user_name(&u);
    store.read(|tx| {
        rows.into_iter()
            .map(|m| {
                let n = tx.recordings(&m.guid)?.len();
                Ok(present_meeting(m, &name, n))
            })
            .collect()
    })
}

/// The binding of a recording: the meeting, and the recording's id, so a ciphertext moved to
/// another recording or meeting does not open.
fn recording_binding(meeting_guid: &str, recording_id: &str) -> Result<ContentBinding> {
    Ok(ContentBinding::new(
        parse_guid(meeting_guid)?,
        format!("recordings/{recording_id}").into_bytes(),
    ))
}

fn present_recording(
    r: &RecordingRow,
    u: &RecipientRow,
    policy: &str,
    out_file: Option<String>,
) -> Recording {
    Recording {
        id: r.recording_id.clone(),
        meeting_id: r.meeting_guid.clone(),
        meeting_organizer: user_name(u),
        created_date_time: r.when_created.clone(),
        content_type: r.content_type.clone(),
        size: r.size,
        recording_content_url: format!(
            "https://graph.microsoft.com/v1.0/users/{}/onlineMeetings/{}/recordings/{}/content",
            u.guid, r.meeting_guid, r.recording_id
        ),
        encryption_policy: policy.to_string(),
        out_file,
    }
}

fn file_err(path: &Path, e: &io::Error) -> Error {
    Error::invalid(format!("cannot read '{}': {e}", path.display()))
        .with_help("check that the recording file exists and is readable; nothing was stored")
}

fn pack_err(path: &Path, e: &io::Error) -> Error {
    Error::new(
        ErrorKind::Unavailable,
        format!("cannot write the content file {}: {e}", path.display()),
    )
    .with_help("check the disk (space, permissions) of the store's directory; the recording was not stored")
}

/// Checks the recording file before anything is written: a regular file, not empty, not too
/// large. Returns its size.
fn check_recording_file(path: &Path) -> Result<u64> {
    let m = std::fs::metadata(path).map_err(|e| file_err(path, &e))?;
    if !m.is_file() {
        return Err(
            Error::invalid(format!("'{}' is not a file", path.display()))
                .with_help("give the path of the recording file (e.g. an .mp4) with -Path"),
        );
    }
    if m.len() == 0 {
        return Err(Error::invalid(format!("'{}' is empty", path.display()))
            .with_help("give the path of a recording file with content; nothing was stored"));
    }
    if m.len() > MAX_RECORDING_BYTES {
        return Err(Error::invalid(format!(
            "'{}' is {} bytes; a recording holds at most {MAX_RECORDING_BYTES} bytes (4 GiB)",
            path.display(),
            m.len()
        ))
        .with_help("split the recording into parts of at most 4 GiB; nothing was stored"));
    }
    Ok(m.len())
}

/// `Add-CustomerKeyMeetingRecording`: stores a recording file in a meeting, as Teams does when
/// a recording ends. The file is streamed (bounded memory) and encrypted under the current Teams
/// workload key with a key derived for this recording, into a pack of the meeting; the row
/// commits once the bytes are durable.
pub fn add_recording(
    store: &mut Store,
    keys: &mut ServiceKeys,
    organizer: &str,
    meeting: &str,
    path: &Path,
) -> Result<Recording> {
    check_recording_file(path)?;
    let u = user(store, organizer)?;
    let m = resolve_meeting(store, &u, meeting)?;
    let request = request_id();
    let (wk, key_id, policy) = current_workload_key(store, keys, &request)?;
    let recording_id = Uuid::new_v4().to_string();
    let binding = recording_binding(&m.guid, &recording_id)?;
    let file = std::fs::File::open(path).map_err(|e| file_err(path, &e))?;
    let mut limited = Limited {
        inner: io::BufReader::with_capacity(1 << 16, file),
        left: MAX_RECORDING_BYTES,
        read: 0,
        path: path.to_path_buf(),
        limit: MAX_RECORDING_BYTES,
    };
    let mut out = PackAppender::start(store.create_pack(&m.guid)?)?;
    let offset = out.position();
    let stored = {
        let mut enc = wk.encrypting_reader(&binding, &mut limited)?;
        out.append_from(&mut enc)
            .map_err(|e| match crate::crypto::CryptoError::from_io(&e) {
                Some(c) => Error::from(c.clone()),
                None => file_err(path, &e),
            })?
    };
    let upto = out.request_sync().map_err(|e| pack_err(out.path(), &e))?;
    out.durable(Some(upto))
        .map_err(|e| pack_err(out.path(), &e))?;
    let pack_id = out.id.clone();
    let when = now();
    let row = store.write(|tx| -> Result<_> {
        let row = RecordingRow {
            meeting_guid: m.guid.clone(),
            recording_id: recording_id.clone(),
            seq: tx.next_recording_seq(&m.guid)?,
            content_type: content_type_of(path).to_string(),
            size: limited.read,
            key_id: key_id.clone(),
            pack: pack_id.clone(),
            pack_offset: offset,
            stored_size: stored,
            when_created: when.clone(),
        };
        tx.insert_recording(&row)?;
        Ok(row)
    })?;
    out.finish()
        .map_err(|e| pack_err(Path::new(&pack_id), &e))?;
    Ok(present_recording(&row, &u, &policy, None))
}

fn workload_key_of(
    store: &mut Store,
    keys: &mut ServiceKeys,
    key_id: &str,
    what: &str,
    request: &str,
) -> Result<(WorkloadKey, String)> {
    let row = store
        .read(|tx| -> Result<_> { Ok(tx.workload_key(super::m365::WORKLOAD_TEAMS, key_id)?) })?
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Unavailable,
                format!("the workload key {key_id} of {what} is missing"),
            )
            .with_help("it cannot be decrypted by anyone; restore the store from a backup taken before the key was lost")
        })?;
    open_workload_key(store, keys, &row, Purpose::User, request)
}

/// `Get-MgUserOnlineMeetingRecording` (no `out_file`) and
/// `Get-MgUserOnlineMeetingRecordingContent -OutFile`: a meeting's recordings (all, or one by
/// id); with `out_file` (one recording), decrypts it there, streaming, through a temporary file
/// renamed into place. Even a listing opens the key: a revoked policy shows nothing.
pub fn recordings(
    store: &mut Store,
    keys: &mut ServiceKeys,
    organizer: &str,
    meeting: &str,
    recording_id: Option<&str>,
    out_file: Option<&Path>,
) -> Result<Vec<Recording>> {
    let u = user(store, organizer)?;
    let m = resolve_meeting(store, &u, meeting)?;
    let mut rows = store.read(|tx| -> Result<_> { Ok(tx.recordings(&m.guid)?) })?;
    if let Some(id) = recording_id {
        rows.retain(|r| r.recording_id.eq_ignore_ascii_case(id));
        if rows.is_empty() {
            return Err(Error::not_found(format!(
                "The online meeting '{}' has no recording '{id}'.",
                m.guid
            ))
            .with_help(format!(
                "list them with 'custkey Get-MgUserOnlineMeetingRecording -UserId {} -OnlineMeetingId {}'",
                user_name(&u),
                m.guid
            )));
        }
    }
    if out_file.is_some() && recording_id.is_none() {
        return Err(Error::invalid("-OutFile writes one recording")
            .with_help("name it with -CallRecordingId"));
    }
    let request = request_id();
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let (wk, policy) = workload_key_of(
            store,
            keys,
            &r.key_id,
            &format!("a recording of meeting {}", m.guid),
            &request,
        )?;
        let mut written = None;
        if let Some(path) = out_file {
            let binding = recording_binding(&r.meeting_guid, &r.recording_id)?;
            super::content::write_file_atomic(path, |f| {
                store.read(|tx| -> Result<()> {
                    let src = tx
                        .open_pack_range(&r.meeting_guid, &r.pack, r.pack_offset, r.stored_size)
                        .map_err(|e| {
                            Error::new(
                                ErrorKind::Unavailable,
                                format!("recording {} of meeting {} cannot be read: {e}", r.recording_id, r.meeting_guid),
                            )
                            .with_help("the content directory belongs with the store: restore both from the same backup")
                        })?;
                    let mut dec = wk.decrypt_reader(&binding, io::BufReader::with_capacity(1 << 16, src))?;
                    let n = io::copy(&mut dec, f).map_err(|e| {
                        match crate::crypto::CryptoError::from_io(&e) {
                            Some(c) => Error::from(c.clone()),
                            None => Error::invalid(format!("cannot write '{}': {e}", path.display()))
                                .with_help("check the path and the disk"),
                        }
                    })?;
                    if n != r.size {
                        return Err(Error::new(
                            ErrorKind::Unavailable,
                            format!("recording {} decrypted to {n} bytes, not the {} stored", r.recording_id, r.size),
                        )
                        .with_help("the store was changed or damaged: restore it from a backup"));
                    }
                    Ok(())
                })
            })?;
            written = Some(path.display().to_string());
        }
        out.push(present_recording(&r, &u, &policy, written));
    }
    Ok(out)
}

/// What `Set-MgUserPresenceStatusMessage -StatusMessage` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusMessageRequest {
    pub content: String,
    /// `text` (the only type Graph supports for status messages).
    pub content_type: String,
    pub expiry: Option<DateTime<Utc>>,
}

/// The binding of a status message: the user, and what the row says about it in the clear
/// (content type, expiry, publication), so neither the ciphertext nor those fields can be moved
/// or changed unnoticed.
fn status_binding(s: &PresenceStatusRow) -> Result<ContentBinding> {
    Ok(ContentBinding::new(
        parse_guid(&s.recipient_guid)?,
        format!(
            "presence/statusMessage\0{}\0{}\0{}",
            s.content_type,
            s.expiry.as_deref().unwrap_or(""),
            s.published
        )
        .into_bytes(),
    ))
}

/// `Set-MgUserPresenceStatusMessage`: sets (replaces) a user's status message, the text
/// encrypted under the current Teams workload key. Empty content clears it.
pub fn set_status_message(
    store: &mut Store,
    keys: &mut ServiceKeys,
    who: &str,
    req: &StatusMessageRequest,
) -> Result<Presence> {
    if !req.content_type.eq_ignore_ascii_case("text") {
        return Err(Error::invalid(format!(
            "the status message's ContentType is '{}'; Teams status messages are text",
            req.content_type
        ))
        .with_help("give ContentType = 'text' (or leave it out)"));
    }
    let n = req.content.chars().count();
    if n > MAX_STATUS_CHARS {
        return Err(Error::invalid(format!(
            "the status message is {n} characters; Teams takes at most {MAX_STATUS_CHARS}"
        ))
        .with_help("shorten it; nothing was changed"));
    }
    let published = now();
    if let Some(at) = req.expiry {
        if at <= Utc::now() {
            return Err(Error::invalid(format!(
                "the status message would expire at {}, which has passed",
                rfc3339(at)
            ))
            .with_help(
                "give an ExpiryDateTime in the future, or none for a message that does not expire",
            ));
        }
    }
    let u = user(store, who)?;
    if req.content.is_empty() {
        store.write(|tx| -> Result<_> { Ok(tx.clear_presence_status(&u.guid)?) })?;
        return presence(store, keys, who);
    }
    let request = request_id();
    let (wk, key_id, policy) = current_workload_key(store, keys, &request)?;
    let mut row = PresenceStatusRow {
        recipient_guid: u.guid.clone(),
        key_id,
        message: Vec::new(),
        content_type: "text".into(),
        expiry: req.expiry.map(rfc3339),
        published,
    };
    row.message = wk.encrypt_content(&status_binding(&row)?, req.content.as_bytes())?;
    store.write(|tx| -> Result<_> { Ok(tx.put_presence_status(&row)?) })?;
    Ok(present_presence(
        &u,
        Some((&row, req.content.clone())),
        &policy,
    ))
}

fn present_presence(
    u: &RecipientRow,
    status: Option<(&PresenceStatusRow, String)>,
    policy: &str,
) -> Presence {
    let policy = if status.is_some() { policy } else { "" };
    Presence {
        id: u.guid.clone(),
        availability: "PresenceUnknown".into(),
        activity: "PresenceUnknown".into(),
        status_message: status.map(|(s, text)| StatusMessage {
            message: ItemBody {
                content: text,
                content_type: s.content_type.clone(),
            },
            expiry_date_time: s.expiry.as_ref().map(|e| DateTimeTimeZone {
                date_time: e.trim_end_matches('Z').to_string(),
                time_zone: "UTC".into(),
            }),
            published_date_time: s.published.clone(),
        }),
        encryption_policy: policy.to_string(),
    }
}

/// `Get-MgUserPresence`: the user's presence with the status message decrypted (none once it
/// has expired). A user request: a customer key's refusal fails it.
pub fn presence(store: &mut Store, keys: &mut ServiceKeys, who: &str) -> Result<Presence> {
    let u = user(store, who)?;
    let row = store.read(|tx| -> Result<_> { Ok(tx.presence_status(&u.guid)?) })?;
    let Some(row) = row else {
        return Ok(present_presence(&u, None, ""));
    };
    let expired = row.expiry.as_deref().is_some_and(|e| {
        DateTime::parse_from_rfc3339(e).is_ok_and(|t| t.with_timezone(&Utc) <= Utc::now())
    });
    if expired {
        return Ok(present_presence(&u, None, ""));
    }
    let request = request_id();
    let (wk, policy) = workload_key_of(
        store,
        keys,
        &row.key_id,
        &format!("the status message of '{}'", user_name(&u)),
        &request,
    )?;
    let plain = wk.decrypt_content(&status_binding(&row)?, &row.message)?;
    let text = String::from_utf8_lossy(&plain).into_owned();
    Ok(present_presence(&u, Some((&row, text)), &policy))
}
