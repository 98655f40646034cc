//! New-MgUserOnlineMeeting, Get-MgUserOnlineMeeting: Teams meetings a user organizes, whose
//! recordings are Teams workload content under the Teams workload key.

use custkey::service::teams;

use super::mg_user_license::user_names;
use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{record, Output};
use crate::cli::Ctx;

const TABLE: &[&str] = &["Subject", "Id", "StartDateTime", "RecordingCount"];

pub const CMDLETS: &[Cmdlet] = &[
    Cmdlet {
        name: "New-MgUserOnlineMeeting",
        module: "Microsoft.Graph.CloudCommunications",
        synopsis: "Creates a Teams online meeting that a user organizes.",
        description: "Creates an online meeting with the user as organizer. Its recordings \
(Add-CustomerKeyMeetingRecording, Get-MgUserOnlineMeetingRecording) are Teams workload content: encrypted under the Teams \
workload key, which the tenant's multi-workload DEP wraps once one is assigned. The meeting starts at -StartDateTime \
(now when omitted) and ends at -EndDateTime (an hour later when omitted). Graph's participants, lobby and chat settings \
are not modelled.",
        params: &[
            Param::new("UserId", Kind::String, "The organizer: a user's name, alias, address or id.").position(0).required().complete(user_names),
            Param::new("Subject", Kind::String, "The meeting's subject.").default("none"),
            Param::new("StartDateTime", Kind::Date, "When the meeting starts.").default("now"),
            Param::new("EndDateTime", Kind::Date, "When the meeting ends.").default("an hour after the start"),
        ],
        examples: &[Example {
            title: "A meeting Alice organizes",
            code: "custkey New-MgUserOnlineMeeting -UserId alice -Subject \"Falcon review\" -StartDateTime \"2026-12-27 10:00\" -EndDateTime \"2026-12-27 11:00\"",
            output: "",
            remarks: "",
        }],
        impact: Impact::Medium,
        table: TABLE,
        run: new,
    },
    Cmdlet {
        name: "Get-MgUserOnlineMeeting",
        module: "Microsoft.Graph.CloudCommunications",
        synopsis: "Shows a user's online meetings, or one by id.",
        description: "Shows each meeting the user organizes: Id, Subject, StartDateTime, EndDateTime, JoinWebUrl and \
how many recordings it holds. -OnlineMeetingId takes the meeting's Id, or its subject when only one of the user's meetings \
has it. Graph needs -OnlineMeetingId or -Filter; custkey lists all the user's meetings when it is omitted.",
        params: &[
            Param::new("UserId", Kind::String, "The organizer: a user's name, alias, address or id.").position(0).required().complete(user_names),
            Param::new("OnlineMeetingId", Kind::String, "One meeting's Id (or unique subject); all when omitted.").position(1),
        ],
        examples: &[Example {
            title: "Alice's meetings",
            code: "custkey Get-MgUserOnlineMeeting -UserId alice",
            output: "",
            remarks: "",
        }],
        impact: Impact::None,
        table: TABLE,
        run: get,
    },
];

fn new(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let user = args.str("UserId").unwrap_or_default().to_string();
    if !ctx.should_process(&user, "New-MgUserOnlineMeeting", false)? {
        return Ok(Output::None);
    }
    let m = teams::new_meeting(
        ctx.store()?,
        &user,
        args.str("Subject").unwrap_or_default(),
        args.date("StartDateTime"),
        args.date("EndDateTime"),
    )?;
    Ok(Output::one(record(&m)?))
}

fn get(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let user = args.str("UserId").unwrap_or_default();
    let ms = teams::meetings(ctx.store()?, user, args.str("OnlineMeetingId"))?;
    Ok(Output::many(
        ms.iter().map(record).collect::<Result<Vec<_>, _>>()?,
    ))
}
