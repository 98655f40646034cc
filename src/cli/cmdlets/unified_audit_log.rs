//! Search-UnifiedAuditLog.

use custkey::service::lifecycle;

use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{record, Output};
use crate::cli::Ctx;

const RECORD_TYPES: &[&str] = &["CustomerKeyServiceEncryption", "ExchangeAdmin"];

pub const CMDLETS: &[Cmdlet] = &[Cmdlet {
    name: "Search-UnifiedAuditLog",
    module: "ExchangeOnlineManagement",
    synopsis: "Searches the unified audit log: availability-key use, DEP changes, assignments, purge steps.",
    description: "Returns audit records between -StartDate and -EndDate, oldest first. RecordType \
CustomerKeyServiceEncryption holds every use of an availability key (Operation 'Fallback to Availability Key', with \
the custom parameters Policy Id, Scope Key Version Id and Request Id in AuditData), availability-key tests and the \
destruction steps of a data purge; ExchangeAdmin holds the cmdlets that changed DEPs, assignments, imports, exports and \
moves.",
    params: &[
        Param::new("StartDate", Kind::Date, "The earliest time (UTC).").required(),
        Param::new("EndDate", Kind::Date, "The latest time (UTC).").required(),
        Param::new("RecordType", Kind::Enum(RECORD_TYPES), "Only records of this type."),
        Param::new("Operations", Kind::StringList, "Only these operations, e.g. 'Fallback to Availability Key'."),
        Param::new("ResultSize", Kind::Int { min: 1, max: 5000 }, "At most this many records.").default("100"),
    ],
    examples: &[Example {
        title: "Every availability-key fallback this year",
        code: "custkey Search-UnifiedAuditLog -StartDate 2026-01-01 -EndDate 2026-12-31 -RecordType CustomerKeyServiceEncryption -Operations \"Fallback to Availability Key\"",
        output: "",
        remarks: "",
    }],
    impact: Impact::None,
    table: &["CreationDate", "RecordType", "Operations", "UserIds", "ObjectId"],
    run,
}];

fn run(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let (Some(start), Some(end)) = (args.date("StartDate"), args.date("EndDate")) else {
        return Err(CliError::usage(
            "Search-UnifiedAuditLog needs -StartDate and -EndDate.",
        ));
    };
    // A bare end date means the whole of that day.
    let end = if end.time() == chrono::NaiveTime::MIN {
        end + chrono::Duration::days(1) - chrono::Duration::microseconds(1)
    } else {
        end
    };
    let entries = lifecycle::search_audit(
        ctx.store()?,
        start,
        end,
        args.str("RecordType"),
        args.list("Operations").unwrap_or_default(),
        args.int("ResultSize").unwrap_or(100) as u64,
    )?;
    Ok(Output::many(
        entries.iter().map(record).collect::<Result<Vec<_>, _>>()?,
    ))
}
