//! Add-CustomerKeyMeetingRecording: custkey's own cmdlet to put a recording file into a Teams
//! meeting (Teams writes recordings itself; Graph has no cmdlet that uploads one).

use std::path::PathBuf;

use custkey::service::teams;

use super::mg_user_license::user_names;
use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{record, Output};
use crate::cli::Ctx;

pub const CMDLETS: &[Cmdlet] = &[Cmdlet {
    name: "Add-CustomerKeyMeetingRecording",
    module: "custkey",
    synopsis: "Stores a recording file in a Teams meeting, as Teams does when a recording ends (custkey's own cmdlet).",
    description: "Teams writes call and meeting recordings itself and Microsoft Graph has no cmdlet to upload one, so \
custkey has this one. The file (at most 4 GiB) is streamed with bounded memory and encrypted under the current Teams \
workload key, with a key derived for this recording and bound to the meeting and recording id, into a content pack of the \
meeting (or the database, on a PostgreSQL store with database content storage); the recording's row commits once the \
bytes are durable. Under a multi-workload DEP it is refused unless at least one user of the tenant is licensed for \
Customer Key. The content type comes from the file's extension.",
    params: &[
        Param::new("UserId", Kind::String, "The meeting's organizer: a user's name, alias, address or id.").required().complete(user_names),
        Param::new("OnlineMeetingId", Kind::String, "The meeting's Id (or unique subject).").required(),
        Param::new("Path", Kind::Path, "The recording file (e.g. an .mp4).").required().reads_files(),
    ],
    examples: &[Example {
        title: "Store a recording in a new meeting",
        code: "custkey -Command '$m = New-MgUserOnlineMeeting -UserId alice -Subject Kickoff; Add-CustomerKeyMeetingRecording -UserId alice -OnlineMeetingId $m.Id -Path examples/media/logo.png'",
        output: "",
        remarks: "Get-MgUserOnlineMeetingRecording lists it; Get-MgUserOnlineMeetingRecordingContent -OutFile reads it back.",
    }],
    impact: Impact::Medium,
    table: &["Id", "MeetingId", "Size", "EncryptionPolicy"],
    run: add,
}];

fn add(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let meeting = args.str("OnlineMeetingId").unwrap_or_default().to_string();
    let path = PathBuf::from(args.str("Path").unwrap_or_default());
    if !ctx.should_process(&meeting, "Add-CustomerKeyMeetingRecording", false)? {
        return Ok(Output::None);
    }
    let (store, keys) = ctx.service()?;
    let r = teams::add_recording(
        store,
        keys,
        args.str("UserId").unwrap_or_default(),
        &meeting,
        &path,
    )?;
    Ok(Output::one(record(&r)?))
}
