//! Teams online meetings and their recordings (where each recording's ciphertext lies), and
//! Teams status messages (sealed text), all Teams workload data under the Teams workload key.

use super::db::{args, Row};

use super::{Result, Tx};

/// An online meeting a user organizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeetingRow {
    pub guid: String,
    /// The organizer's recipient GUID.
    pub organizer_guid: String,
    pub subject: String,
    pub start_time: String,
    pub end_time: String,
    pub when_created: String,
}

/// A recording of an online meeting: where its ciphertext lies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingRow {
    pub meeting_guid: String,
    pub recording_id: String,
    pub seq: i64,
    pub content_type: String,
    /// Plaintext bytes.
    pub size: u64,
    /// The Teams workload key it is encrypted under.
    pub key_id: String,
    pub pack: String,
    pub pack_offset: u64,
    pub stored_size: u64,
    pub when_created: String,
}

/// A user's Teams status message, sealed under a Teams workload key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceStatusRow {
    pub recipient_guid: String,
    pub key_id: String,
    /// The sealed text.
    pub message: Vec<u8>,
    pub content_type: String,
    /// When it expires (RFC 3339, UTC); never when `None`.
    pub expiry: Option<String>,
    pub published: String,
}

const MEETING_COLS: &str = "guid, organizer_guid, subject, start_time, end_time, when_created";
const REC_COLS: &str = "meeting_guid, recording_id, seq, content_type, size, key_id, pack, pack_offset, stored_size, when_created";
const STATUS_COLS: &str = "recipient_guid, key_id, message, content_type, expiry, published";

fn meeting_row(r: &Row) -> Result<MeetingRow> {
    Ok(MeetingRow {
        guid: r.get(0)?,
        organizer_guid: r.get(1)?,
        subject: r.get(2)?,
        start_time: r.get(3)?,
        end_time: r.get(4)?,
        when_created: r.get(5)?,
    })
}

fn rec_row(r: &Row) -> Result<RecordingRow> {
    Ok(RecordingRow {
        meeting_guid: r.get(0)?,
        recording_id: r.get(1)?,
        seq: r.get(2)?,
        content_type: r.get(3)?,
        size: r.get::<i64>(4)? as u64,
        key_id: r.get(5)?,
        pack: r.get(6)?,
        pack_offset: r.get::<i64>(7)? as u64,
        stored_size: r.get::<i64>(8)? as u64,
        when_created: r.get(9)?,
    })
}

fn status_row(r: &Row) -> Result<PresenceStatusRow> {
    Ok(PresenceStatusRow {
        recipient_guid: r.get(0)?,
        key_id: r.get(1)?,
        message: r.get(2)?,
        content_type: r.get(3)?,
        expiry: r.get(4)?,
        published: r.get(5)?,
    })
}

impl Tx<'_> {
    pub fn insert_meeting(&self, m: &MeetingRow) -> Result<()> {
        self.exec(
            &format!("INSERT INTO online_meeting ({MEETING_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
            args![
                m.guid,
                m.organizer_guid,
                m.subject,
                m.start_time,
                m.end_time,
                m.when_created
            ],
        )?;
        Ok(())
    }

    /// The meetings a user organizes, oldest first.
    pub fn meetings_of(&self, organizer_guid: &str) -> Result<Vec<MeetingRow>> {
        self.rows(
            &format!("SELECT {MEETING_COLS} FROM online_meeting WHERE organizer_guid = ?1 ORDER BY when_created, guid"),
            args![organizer_guid],
        )?
        .iter()
        .map(meeting_row)
        .collect()
    }

    /// Inserts a recording row (its bytes already durable in its pack).
    pub fn insert_recording(&self, r: &RecordingRow) -> Result<()> {
        self.exec(
            &format!("INSERT INTO meeting_recording ({REC_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
            args![
                r.meeting_guid,
                r.recording_id,
                r.seq,
                r.content_type,
                r.size as i64,
                r.key_id,
                r.pack,
                r.pack_offset as i64,
                r.stored_size as i64,
                r.when_created
            ],
        )?;
        Ok(())
    }

    pub fn next_recording_seq(&self, meeting_guid: &str) -> Result<i64> {
        match self.row(
            "SELECT coalesce(max(seq), 0) + 1 FROM meeting_recording WHERE meeting_guid = ?1",
            args![meeting_guid],
        )? {
            Some(r) => r.get(0),
            None => Ok(1),
        }
    }

    /// A meeting's recordings in the order they were added.
    pub fn recordings(&self, meeting_guid: &str) -> Result<Vec<RecordingRow>> {
        self.rows(
            &format!(
                "SELECT {REC_COLS} FROM meeting_recording WHERE meeting_guid = ?1 ORDER BY seq"
            ),
            args![meeting_guid],
        )?
        .iter()
        .map(rec_row)
        .collect()
    }

    /// Sets (replaces) a user's status message.
    pub fn put_presence_status(&self, s: &PresenceStatusRow) -> Result<()> {
        self.exec(
            &format!(
                "INSERT INTO presence_status ({STATUS_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (recipient_guid) DO UPDATE SET key_id = excluded.key_id,
                   message = excluded.message, content_type = excluded.content_type,
                   expiry = excluded.expiry, published = excluded.published"
            ),
            args![
                s.recipient_guid,
                s.key_id,
                s.message,
                s.content_type,
                s.expiry,
                s.published
            ],
        )?;
        Ok(())
    }

    pub fn presence_status(&self, recipient_guid: &str) -> Result<Option<PresenceStatusRow>> {
        self.row(
            &format!("SELECT {STATUS_COLS} FROM presence_status WHERE recipient_guid = ?1"),
            args![recipient_guid],
        )?
        .as_ref()
        .map(status_row)
        .transpose()
    }

    /// Removes a user's status message; `Ok(false)` when there was none.
    pub fn clear_presence_status(&self, recipient_guid: &str) -> Result<bool> {
        Ok(self.exec(
            "DELETE FROM presence_status WHERE recipient_guid = ?1",
            args![recipient_guid],
        )? > 0)
    }
}
