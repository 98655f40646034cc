//! Get-MgUserOnlineMeetingRecording, Get-MgUserOnlineMeetingRecordingContent: the recordings
//! of a Teams meeting, Teams workload content encrypted under the Teams workload key.

use std::path::PathBuf;

use custkey::service::teams;

use super::mg_user_license::user_names;
use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{record, Output};
use crate::cli::Ctx;

const TABLE: &[&str] = &["Id", "CreatedDateTime", "Size", "EncryptionPolicy"];

pub const CMDLETS: &[Cmdlet] = &[
    Cmdlet {
        name: "Get-MgUserOnlineMeetingRecording",
        module: "Microsoft.Graph.CloudCommunications",
        synopsis: "Lists a meeting's recordings, or shows one by id.",
        description: "Shows each recording of a meeting the user organizes: Id, MeetingId, CreatedDateTime, \
ContentType, Size, RecordingContentUrl and the policy whose key protects it (EncryptionPolicy). Even a listing opens the \
Teams workload key: this is a user request, so when a customer key of the protecting multi-workload DEP refuses (access \
revoked), it fails and the availability key is not used.",
        params: &[
            Param::new("UserId", Kind::String, "The organizer: a user's name, alias, address or id.").position(0).required().complete(user_names),
            Param::new("OnlineMeetingId", Kind::String, "The meeting's Id (or unique subject).").position(1).required(),
            Param::new("CallRecordingId", Kind::String, "One recording's Id; all of the meeting's when omitted."),
        ],
        examples: &[Example {
            title: "A meeting's recordings",
            code: "custkey -Command '$m = New-MgUserOnlineMeeting -UserId alice -Subject Standup; Add-CustomerKeyMeetingRecording -UserId alice -OnlineMeetingId $m.Id -Path examples/media/logo.png; Get-MgUserOnlineMeetingRecording -UserId alice -OnlineMeetingId $m.Id'",
            output: "",
            remarks: "",
        }],
        impact: Impact::None,
        table: TABLE,
        run: list,
    },
    Cmdlet {
        name: "Get-MgUserOnlineMeetingRecordingContent",
        module: "Microsoft.Graph.CloudCommunications",
        synopsis: "Writes a meeting recording's content, decrypted, to a file.",
        description: "Decrypts one recording into -OutFile, streaming with bounded memory, through a temporary file \
renamed into place (a refused or damaged recording leaves no file). This is a user request: when a customer key of the \
protecting multi-workload DEP refuses (access revoked), it fails and the availability key is not used.",
        params: &[
            Param::new("UserId", Kind::String, "The organizer: a user's name, alias, address or id.").required().complete(user_names),
            Param::new("OnlineMeetingId", Kind::String, "The meeting's Id (or unique subject).").required(),
            Param::new("CallRecordingId", Kind::String, "The recording's Id.").required(),
            Param::new("OutFile", Kind::Path, "The file to write the recording to.").required().writes_files(),
        ],
        examples: &[Example {
            title: "Save a recording",
            code: "custkey -Command '$m = New-MgUserOnlineMeeting -UserId alice -Subject Retro; $r = Add-CustomerKeyMeetingRecording -UserId alice -OnlineMeetingId $m.Id -Path examples/media/logo.png; Get-MgUserOnlineMeetingRecordingContent -UserId alice -OnlineMeetingId $m.Id -CallRecordingId $r.Id -OutFile recording-copy.png'",
            output: "",
            remarks: "",
        }],
        impact: Impact::None,
        table: &["Id", "Size", "OutFile"],
        run: content,
    },
];

fn list(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let (store, keys) = ctx.service()?;
    let rs = teams::recordings(
        store,
        keys,
        args.str("UserId").unwrap_or_default(),
        args.str("OnlineMeetingId").unwrap_or_default(),
        args.str("CallRecordingId"),
        None,
    )?;
    Ok(Output::many(
        rs.iter().map(record).collect::<Result<Vec<_>, _>>()?,
    ))
}

fn content(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let out = args.str("OutFile").map(PathBuf::from);
    let (store, keys) = ctx.service()?;
    let rs = teams::recordings(
        store,
        keys,
        args.str("UserId").unwrap_or_default(),
        args.str("OnlineMeetingId").unwrap_or_default(),
        args.str("CallRecordingId"),
        out.as_deref(),
    )?;
    Ok(Output::many(
        rs.iter().map(record).collect::<Result<Vec<_>, _>>()?,
    ))
}
