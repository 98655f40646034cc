//! Out-File.

use std::io::Write;

use serde_json::Value;

use crate::cli::args::Args;
use crate::cli::def::{Cmdlet, Example, Impact, Kind, Param};
use crate::cli::error::CliError;
use crate::cli::output::{render_values, Output};
use crate::cli::Ctx;

pub const CMDLETS: &[Cmdlet] = &[Cmdlet {
    name: "Out-File",
    module: "Microsoft.PowerShell.Utility",
    synopsis: "Writes the objects piped in to a file, as they would show on screen.",
    description: "In a script, writes what the pipeline would have printed (the default view, or the text of \
Format-List, Format-Table or ConvertTo-Json) to a UTF-8 file, replacing it unless -Append is given. \
-NoClobber refuses to replace an existing file.",
    params: &[
        Param::new("FilePath", Kind::Path, "The file to write.").position(0).required().aliases(&["Path"]),
        Param::new("Append", Kind::Switch, "Add to the end of the file."),
        Param::new("NoClobber", Kind::Switch, "Do not replace an existing file."),
        Param::new("Encoding", Kind::Enum(&["utf8", "utf8NoBOM", "ascii"]), "Accepted for compatibility; files are UTF-8 without a byte-order mark.").default("utf8NoBOM"),
    ],
    examples: &[Example {
        title: "Save the DEPs as JSON",
        code: "custkey -Command 'Get-DataEncryptionPolicy | ConvertTo-Json | Out-File deps.json'",
        output: "",
        remarks: "",
    }],
    impact: Impact::Medium,
    table: &[],
    run,
}];

fn run(ctx: &mut Ctx, args: &Args) -> Result<Output, CliError> {
    let path = args.str("FilePath").unwrap_or_default().to_string();
    let items = std::mem::take(&mut ctx.input);
    let view = std::mem::take(&mut ctx.input_view);
    let text = match items.as_slice() {
        // Text from Format-* or ConvertTo-Json is written as it is.
        [Value::String(s)] => {
            let mut s = s.clone();
            if !s.ends_with('\n') {
                s.push('\n');
            }
            s
        }
        _ => {
            let view: Vec<&str> = view.iter().map(String::as_str).collect();
            render_values(&items, &view, None, None, None)?
        }
    };
    if args.switch("NoClobber") && std::path::Path::new(&path).exists() {
        return Err(
            CliError::failed(format!("The file '{path}' already exists."))
                .with_help("drop -NoClobber to replace it, or add -Append"),
        );
    }
    if !ctx.should_process(&path, "Output to File", false)? {
        return Ok(Output::None);
    }
    let mut opts = std::fs::OpenOptions::new();
    // A new file is private (0600), like every file custkey writes: output may name keys,
    // policies and mailboxes.
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.create(true);
    if args.switch("Append") {
        opts.append(true);
    } else {
        opts.write(true).truncate(true);
    }
    let mut f = opts.open(&path).map_err(|e| {
        CliError::failed(format!("cannot open '{path}' for writing: {e}"))
            .with_help("check that the folder exists and is writable")
    })?;
    f.write_all(text.as_bytes()).map_err(|e| {
        CliError::failed(format!("cannot write '{path}': {e}"))
            .with_help("check the free space and the file's permissions")
    })?;
    Ok(Output::None)
}
