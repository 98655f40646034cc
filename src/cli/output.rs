//! Output forms: Table (fitted to the terminal), List (Format-List), Json, Csv.
//! Only data goes to stdout; messages go to stderr.

use comfy_table::{ContentArrangement, Table};
use serde_json::{Map, Value};

use super::error::{suggestions, CliError};
/// The one wildcard matcher (`-like`, `-Filter`, `-Property`, `Get-Command`, ...).
pub use super::wildcard::wildcard;

/// One object: property name -> value, in display order.
pub type Record = Map<String, Value>;

pub enum Output {
    /// Nothing to print (a state change without -PassThru).
    None,
    /// Objects, shown in the cmdlet's default view unless -Format says otherwise.
    Objects(Vec<Record>),
    /// Objects of a cmdlet that can return many: as [`Output::Objects`], but `-Format Json` is
    /// always an array, also of one object or none (`jq '.[]'` works whatever the count).
    List(Vec<Record>),
    /// Preformatted text (help pages, shell scripts, Format-List).
    Text(String),
    /// Plain values, not objects: strings, numbers, dates (Select-Object -ExpandProperty,
    /// Get-Date, ConvertTo-Json). Objects among them render as objects do.
    Values(Vec<Value>),
}

impl Output {
    pub fn one(record: Record) -> Output {
        Output::Objects(vec![record])
    }
    pub fn many(items: Vec<Record>) -> Output {
        Output::List(items)
    }
}

/// Renders a mixed run of values: each stretch of objects in the given view, and every
/// other value on its own line as it reads in a table cell.
pub fn render_values(
    items: &[Value],
    table_view: &[&str],
    form: Option<Form>,
    properties: Option<&[String]>,
    width: Option<u16>,
) -> Result<String, CliError> {
    let mut out = String::new();
    let mut run: Vec<Record> = Vec::new();
    for v in items {
        match v {
            Value::Object(m) => run.push(m.clone()),
            other => {
                if !run.is_empty() {
                    out.push_str(&render(&run, table_view, form, properties, width)?);
                    run.clear();
                }
                match form {
                    Some(Form::Json) => {
                        out.push_str(&serde_json::to_string_pretty(other).unwrap_or_default());
                        out.push('\n');
                    }
                    _ => {
                        out.push_str(&display(other));
                        out.push('\n');
                    }
                }
            }
        }
    }
    if !run.is_empty() {
        out.push_str(&render(&run, table_view, form, properties, width)?);
    }
    Ok(out)
}

/// Turns a serializable object into a record whose keys are its (PowerShell) property names.
pub fn record<T: serde::Serialize>(value: &T) -> Result<Record, CliError> {
    match serde_json::to_value(value) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(CliError::new(
            super::error::Class::Internal,
            "an output object did not serialize to a property map",
        )),
        Err(e) => Err(CliError::new(
            super::error::Class::Internal,
            format!("an output object could not be serialized: {e}"),
        )),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Table,
    List,
    Json,
    Csv,
}

impl Form {
    pub fn parse(s: &str) -> Option<Form> {
        match s.to_ascii_lowercase().as_str() {
            "table" => Some(Form::Table),
            "list" => Some(Form::List),
            "json" => Some(Form::Json),
            "csv" => Some(Form::Csv),
            _ => None,
        }
    }
}

/// Renders objects. `form` None picks the cmdlet's default view (or List when -Property is given).
pub fn render(
    items: &[Record],
    table_view: &[&str],
    form: Option<Form>,
    properties: Option<&[String]>,
    width: Option<u16>,
) -> Result<String, CliError> {
    render_as(items, table_view, form, properties, width, false)
}

/// [`render`]; `many`: the objects of a cmdlet that can return many, whose JSON is an array
/// whatever their count.
pub fn render_as(
    items: &[Record],
    table_view: &[&str],
    form: Option<Form>,
    properties: Option<&[String]>,
    width: Option<u16>,
    many: bool,
) -> Result<String, CliError> {
    let form = form.unwrap_or(if properties.is_some() || table_view.is_empty() {
        Form::List
    } else {
        Form::Table
    });
    let columns: Vec<String> = match properties {
        Some(props) => select_properties(items, props)?,
        None => match form {
            Form::Table if !table_view.is_empty() => {
                table_view.iter().map(|s| s.to_string()).collect()
            }
            _ => all_keys(items),
        },
    };
    Ok(match form {
        Form::Table => table(items, &columns, width),
        // Objects with a formatted view (Az's vault) show its labels when no property is named.
        Form::List if properties.is_none() && items.iter().any(|i| labelled_view(i).is_some()) => {
            let mut out = String::new();
            for item in items {
                match labelled_view(item) {
                    Some(view) => out.push_str(&labelled_list(item, view)),
                    None => out.push_str(
                        list(std::slice::from_ref(item), &columns).trim_end_matches('\n'),
                    ),
                }
                out.push('\n');
            }
            out.push('\n');
            out
        }
        Form::List => list(items, &columns),
        Form::Json => json(items, &columns, many),
        Form::Csv => csv(items, &columns),
    })
}

fn all_keys(items: &[Record]) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for item in items {
        for k in item.keys() {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
    }
    keys
}

/// Resolves -Property names case-insensitively (with `*` wildcards) to the objects' property names.
fn select_properties(items: &[Record], props: &[String]) -> Result<Vec<String>, CliError> {
    let known = all_keys(items);
    let mut out: Vec<String> = Vec::new();
    for p in props {
        let matched: Vec<&String> = known.iter().filter(|k| wildcard(p, k)).collect();
        if matched.is_empty() && !items.is_empty() && !p.contains('*') {
            let near = suggestions(p, known.iter().map(String::as_str));
            let mut err = CliError::usage(format!("The object has no property named '{p}'."));
            err = match near.first() {
                Some(n) => err.with_help(format!("did you mean {n}?")),
                None => err.with_help(format!("its properties are: {}", known.join(", "))),
            };
            return Err(err);
        }
        for m in matched {
            if !out.contains(m) {
                out.push(m.clone());
            }
        }
    }
    Ok(out)
}

/// The type name of the error records a script's `catch` block sees as `$_`.
pub const ERROR_RECORD: &str = "System.Management.Automation.ErrorRecord";

/// Az's context objects, which read as one of their properties wherever PowerShell calls
/// their `ToString()`: a table or list cell, a string in quotes, a comparison, a string
/// parameter (`Get-AzSubscription -TenantId (Get-AzContext).Tenant`). Their `PSTypeName`
/// says which they are; scripts reach the other properties as usual (`.Subscription.Name`).
pub const AZ_ACCOUNT: &str = "Microsoft.Azure.Commands.Profile.Models.PSAzureRmAccount";
pub const AZ_SUBSCRIPTION: &str = "Microsoft.Azure.Commands.Profile.Models.PSAzureSubscription";
pub const AZ_TENANT: &str = "Microsoft.Azure.Commands.Profile.Models.PSAzureTenant";
pub const AZ_ENVIRONMENT: &str = "Microsoft.Azure.Commands.Profile.Models.PSAzureEnvironment";
const STRING_FORMS: &[(&str, &str)] = &[
    (AZ_ACCOUNT, "Id"),
    (AZ_SUBSCRIPTION, "Id"),
    (AZ_TENANT, "Id"),
    (AZ_ENVIRONMENT, "Name"),
];

/// The property an object reads as (see [`AZ_ACCOUNT`]), when it is one of those.
pub fn string_form(m: &Map<String, Value>) -> Option<&Value> {
    let ty = m.get("PSTypeName")?.as_str()?;
    let (_, prop) = STRING_FORMS.iter().find(|(t, _)| *t == ty)?;
    m.get(*prop)
}

/// How a value reads in a table or list: arrays as `{a, b}`, booleans as True/False.
pub fn display(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!(
            "{{{}}}",
            a.iter().map(display).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(m)
            if m.get("PSTypeName").and_then(Value::as_str)
                == Some(super::cmdlets::secure_string::SECURE_STRING) =>
        {
            super::cmdlets::secure_string::SECURE_STRING.into()
        }
        // An error record (a script's `catch` gives one as `$_`) reads as its message.
        Value::Object(m) if m.get("PSTypeName").and_then(Value::as_str) == Some(ERROR_RECORD) => m
            .get("Exception")
            .and_then(|e| e.get("Message"))
            .map(display)
            .unwrap_or_default(),
        Value::Object(m) if string_form(m).is_some() => {
            string_form(m).map(display).unwrap_or_default()
        }
        Value::Object(m) => m
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| format!("{k}={}", display(v)))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

/// A table cell shows at most this many characters, then `…` (fitting a long cell to the
/// terminal's width costs time that grows with the square of its length; `-Format List` and
/// `-Format Json` show the whole value).
pub const MAX_CELL_CHARS: usize = 1024;

/// Whether a character must not reach a terminal as it is: C0 and C1 controls (ESC, CR,
/// BEL, ...), DEL, and the bidirectional overrides that reorder what a terminal shows.
fn hostile(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Text as table and list output show it: each control character as a visible escape
/// (`\n`, `\t`, `\r`, `\x1b`, `\u{9b}`, `\u{202e}`), so a name cannot move the cursor,
/// recolour the terminal or fake a line. JSON and CSV output keep the exact text.
pub fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(hostile) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if hostile(c) && (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if hostile(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A table cell: [`printable`], cut to [`MAX_CELL_CHARS`].
fn cell(s: &str) -> String {
    let shown = printable(s);
    match shown.char_indices().nth(MAX_CELL_CHARS) {
        Some((i, _)) => format!("{}…", &shown[..i]),
        None => shown.into_owned(),
    }
}

fn table(items: &[Record], columns: &[String], width: Option<u16>) -> String {
    if items.is_empty() {
        return String::new();
    }
    // Columns are separated by one space and the header is underlined with dashes, as
    // PowerShell prints tables. comfy-table draws no separator for a space, so a
    // placeholder is drawn and replaced below.
    const SEP: char = '\u{1}';
    let mut t = Table::new();
    t.load_preset(comfy_table::presets::NOTHING);
    t.set_style(comfy_table::TableComponent::HeaderLines, '-');
    t.set_style(comfy_table::TableComponent::MiddleHeaderIntersections, SEP);
    t.set_style(comfy_table::TableComponent::VerticalLines, SEP);
    t.force_no_tty();
    if let Some(w) = width {
        t.set_width(w);
        t.set_content_arrangement(ContentArrangement::Dynamic);
    } else {
        t.set_content_arrangement(ContentArrangement::Disabled);
    }
    t.set_header(columns.iter().map(|c| cell(c)));
    // Fitted to a terminal, a row stays one line and a cell too long for its column ends in
    // `…`, as PowerShell truncates; a header keeps its whole name (no column is narrower).
    t.set_truncation_indicator("…");
    for item in items {
        let mut row = comfy_table::Row::from(
            columns
                .iter()
                .map(|c| item.get(c).map(|v| cell(&display(v))).unwrap_or_default()),
        );
        if width.is_some() {
            row.max_height(1);
        }
        t.add_row(row);
    }
    for (col, name) in t.column_iter_mut().zip(columns) {
        col.set_padding((0, 0));
        if width.is_some() {
            let w = u16::try_from(printable(name).chars().count()).unwrap_or(u16::MAX);
            col.set_constraint(comfy_table::ColumnConstraint::LowerBoundary(
                comfy_table::Width::Fixed(w),
            ));
        }
    }
    let mut out = String::new();
    for line in t.lines() {
        out.push_str(line.replace(SEP, " ").trim_end());
        out.push('\n');
    }
    out
}

fn list(items: &[Record], columns: &[String]) -> String {
    let names: Vec<String> = columns.iter().map(|c| printable(c).into_owned()).collect();
    let w = names.iter().map(|c| c.chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    for item in items {
        out.push('\n');
        for (c, name) in columns.iter().zip(&names) {
            // A list of objects shows one object a line, aligned under the first.
            let lines: Vec<String> = match item.get(c) {
                Some(Value::Array(a)) if a.iter().any(Value::is_object) => {
                    a.iter().map(display).collect()
                }
                Some(v) => vec![display(v)],
                None => vec![String::new()],
            };
            let lines = if lines.is_empty() {
                vec!["{}".to_string()]
            } else {
                lines
            };
            for (i, v) in lines.iter().enumerate() {
                let v = printable(v);
                let line = if i == 0 {
                    format!("{name:<w$} : {v}")
                } else {
                    format!("{:<w$}   {v}", "")
                };
                out.push_str(line.trim_end());
                out.push('\n');
            }
        }
    }
    if !items.is_empty() {
        out.push('\n');
    }
    out
}

/// Az's key vault object (Get-AzKeyVault, New-AzKeyVault, ...): its list view shows labels
/// instead of property names, as Az's formatted output does; the properties keep their names
/// (`$v.EnableSoftDelete`, `-Property`, `-Format Json`, `fl *`).
pub const AZ_KEY_VAULT: &str = "Microsoft.Azure.Commands.KeyVault.Models.PSKeyVault";

/// One line of a labelled list view: the label and the property it shows.
struct Label {
    label: &'static str,
    property: &'static str,
}

const fn l(label: &'static str, property: &'static str) -> Label {
    Label { label, property }
}

/// The labels Az's PSKeyVault list view shows (Get-AzKeyVault -VaultName's example output and
/// the Managed HSM view for purge protection and retention), in its order. Properties Az's
/// view has and custkey's vault has not (Enabled For Deployment?, ...) are left out; custkey's
/// own properties follow under their names.
const KEY_VAULT_VIEW: &[Label] = &[
    l("Vault Name", "VaultName"),
    l("Resource Group Name", "ResourceGroupName"),
    l("Location", "Location"),
    l("Resource ID", "ResourceId"),
    l("Vault URI", "VaultUri"),
    l("Tenant ID", "TenantId"),
    l("SKU", "Sku"),
    l("Soft Delete Enabled?", "EnableSoftDelete"),
    l("Enabled Purge Protection?", "EnablePurgeProtection"),
    l(
        "Soft Delete Retention Period (days)",
        "SoftDeleteRetentionInDays",
    ),
    l("Enabled For RBAC Authorization?", "EnableRbacAuthorization"),
    l("Access Policies", "AccessPolicies"),
    l("Tags", "Tags"),
];

/// Each access policy's lines under "Access Policies".
const ACCESS_POLICY_VIEW: &[Label] = &[
    l("Tenant ID", "TenantId"),
    l("Object ID", "ObjectId"),
    l("Application ID", "ApplicationId"),
    l("User Principal Name", "UserPrincipalName"),
    l("Display Name", "DisplayName"),
    l("Permissions to Keys", "PermissionsToKeysStr"),
];

fn labelled_view(item: &Record) -> Option<&'static [Label]> {
    match item.get("PSTypeName").and_then(Value::as_str) {
        Some(AZ_KEY_VAULT) => Some(KEY_VAULT_VIEW),
        _ => None,
    }
}

/// One object in its labelled view: each label's line, then the object's other properties
/// (custkey's own) under their names. Lists of objects (access policies) show each object's
/// own labelled lines, indented under the value column, one blank line after each.
fn labelled_list(item: &Record, view: &[Label]) -> String {
    let shown: Vec<&str> = view.iter().map(|l| l.property).collect();
    let rest: Vec<&String> = item
        .keys()
        .filter(|k| !shown.contains(&k.as_str()) && k.as_str() != "PSTypeName")
        .collect();
    let w = view
        .iter()
        .map(|l| l.label.chars().count())
        .chain(rest.iter().map(|k| printable(k).chars().count()))
        .max()
        .unwrap_or(0);
    let mut out = String::from("\n");
    let line = |out: &mut String, name: &str, value: &str| {
        let text = format!("{name:<w$} : {}", printable(value));
        out.push_str(text.trim_end());
        out.push('\n');
    };
    for l in view {
        match item.get(l.property) {
            Some(Value::Array(a)) if a.iter().any(Value::is_object) => {
                line(&mut out, l.label, "");
                let sub_w = ACCESS_POLICY_VIEW
                    .iter()
                    .map(|l| l.label.chars().count())
                    .max()
                    .unwrap_or(0);
                for p in a {
                    let Value::Object(m) = p else { continue };
                    for sl in ACCESS_POLICY_VIEW {
                        let v = m.get(sl.property).or_else(|| {
                            // A policy names its vault's tenant when it carries none.
                            (sl.property == "TenantId")
                                .then(|| item.get("TenantId"))
                                .flatten()
                        });
                        if let Some(v) = v.filter(|v| !v.is_null()) {
                            let text = format!(
                                "{:w$}   {:<sub_w$} : {}",
                                "",
                                sl.label,
                                printable(&display(v))
                            );
                            out.push_str(text.trim_end());
                            out.push('\n');
                        }
                    }
                    out.push('\n');
                }
            }
            Some(Value::Object(m)) if string_form(m).is_none() => {
                // Tags: one `name = value` line each, under the value column.
                line(&mut out, l.label, "");
                for (k, v) in m {
                    let text = format!("{:w$}   {k} = {}", "", printable(&display(v)));
                    out.push_str(text.trim_end());
                    out.push('\n');
                }
            }
            Some(v) => line(&mut out, l.label, &display(v)),
            None => {}
        }
    }
    for k in rest {
        let v = item.get(k.as_str()).map(display).unwrap_or_default();
        line(&mut out, &printable(k), &v);
    }
    out.trim_end_matches('\n').to_string()
}

fn json(items: &[Record], columns: &[String], many: bool) -> String {
    let objects: Vec<Value> = items
        .iter()
        .map(|item| {
            let mut m = Map::new();
            for c in columns {
                m.insert(c.clone(), item.get(c).cloned().unwrap_or(Value::Null));
            }
            Value::Object(m)
        })
        .collect();
    // A cmdlet that can return many prints an array whatever the count; one that returns one
    // object prints it as an object (as ConvertTo-Json does).
    let v = if objects.len() == 1 && !many {
        objects.into_iter().next().unwrap_or(Value::Null)
    } else {
        Value::Array(objects)
    };
    let mut s = serde_json::to_string_pretty(&v).unwrap_or_else(|_| "null".into());
    s.push('\n');
    s
}

fn csv_field(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn csv(items: &[Record], columns: &[String]) -> String {
    let mut out = String::new();
    out.push_str(
        &columns
            .iter()
            .map(|c| csv_field(c))
            .collect::<Vec<_>>()
            .join(","),
    );
    out.push('\n');
    for item in items {
        let row: Vec<String> = columns
            .iter()
            .map(|c| {
                let v = match item.get(c) {
                    Some(Value::Array(a)) => a.iter().map(display).collect::<Vec<_>>().join(";"),
                    Some(v) => display(v),
                    None => String::new(),
                };
                csv_field(&v)
            })
            .collect();
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(v: Value) -> Record {
        match v {
            Value::Object(m) => m,
            _ => Record::new(),
        }
    }

    #[test]
    fn wildcards_match_like_powershell() {
        assert!(wildcard("*Encrypt*", "DataEncryptionPolicy"));
        assert!(wildcard("get-*", "Get-Mailbox"));
        assert!(wildcard("G?t-Mailbox", "get-mailbox"));
        assert!(!wildcard("Set-*", "Get-Mailbox"));
    }

    #[test]
    fn list_aligns_names_and_shows_arrays_in_braces() {
        let items = vec![rec(
            json!({"Name": "a", "PersistedCapabilities": ["X", "Y"], "On": true}),
        )];
        let s = render(&items, &[], Some(Form::List), None, None).unwrap();
        assert_eq!(
            s,
            "\nName                  : a\nPersistedCapabilities : {X, Y}\nOn                    : True\n\n"
        );
    }

    #[test]
    fn property_selection_is_case_insensitive_and_rejects_unknown_names() {
        let items = vec![rec(json!({"Name": "a", "Guid": "g"}))];
        let s = render(&items, &["Name"], None, Some(&["guid".into()]), None).unwrap();
        assert_eq!(s, "\nGuid : g\n\n");
        let err = render(&items, &["Name"], None, Some(&["Gui".into()]), None).unwrap_err();
        assert_eq!(err.help.as_deref(), Some("did you mean Guid?"));
    }

    #[test]
    fn tables_and_lists_neutralise_control_characters_and_json_keeps_them() {
        let name = "a\u{1b}[31mred\u{1b}[0m\r\nName : fake\u{9b}\u{202e}";
        let items = vec![rec(json!({"Name": name}))];
        for form in [Form::Table, Form::List] {
            let s = render(&items, &["Name"], Some(form), None, Some(80)).unwrap();
            assert!(!s.chars().any(hostile_but_newline), "{form:?}: {s:?}");
            assert!(
                s.contains("a\\x1b[31mred\\x1b[0m\\r\\nName : fake\\u{9b}\\u{202e}"),
                "{s}"
            );
        }
        let s = render(&items, &["Name"], Some(Form::Json), None, None).unwrap();
        let back: Value = serde_json::from_str(&s).unwrap();
        assert_eq!(back["Name"], json!(name));
    }

    fn hostile_but_newline(c: char) -> bool {
        c != '\n' && hostile(c)
    }

    #[test]
    fn long_cells_are_cut_and_take_linear_time() {
        let items = vec![rec(json!({"Name": "x".repeat(4 << 20), "B": "y"}))];
        let start = std::time::Instant::now();
        for w in [None, Some(100)] {
            let s = render(&items, &["Name", "B"], Some(Form::Table), None, w).unwrap();
            assert!(s.len() < 8 * MAX_CELL_CHARS, "{}", s.len());
            assert!(s.contains('…'));
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(10));
    }

    #[test]
    fn csv_quotes_and_joins_lists() {
        let items = vec![rec(json!({"Name": "a \"b\"", "L": ["x", "y"]}))];
        let s = render(&items, &[], Some(Form::Csv), None, None).unwrap();
        assert_eq!(s, "\"Name\",\"L\"\n\"a \"\"b\"\"\",\"x;y\"\n");
    }
}
