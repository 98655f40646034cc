//! Hostile input: every case runs the real `custkey` binary on input built to crash, hang or
//! exhaust it (deep nesting, exponential wildcards, endless files, streams, huge values, bad
//! environment variables) and requires a clear error with a documented exit code (or a
//! success), within limits:
//!
//! - no panic and no abort: the child exits normally (no signal), and its stderr names no
//!   panic or stack overflow;
//! - no hang: it is killed after 10 s, and that fails the case;
//! - memory: its peak resident set (VmHWM, read from /proc while it runs) stays under 256 MiB;
//!   its address space is also capped at 2 GiB (`ulimit -v`), so a runaway allocation fails
//!   the case at once instead of taking the machine;
//! - a failure prints `error: ...` and `help: ...` (docs/cli.md, "Exit codes").
//!
//! Inputs are generated on the fly (nothing large is committed); the whole battery takes a
//! few seconds.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TIME_LIMIT: Duration = Duration::from_secs(10);
const RSS_LIMIT_KIB: u64 = 256 << 10;
const AS_LIMIT_KIB: u64 = 2 << 20;

/// What standard input the child gets.
enum Input {
    Null,
    Bytes(Vec<u8>),
    /// `/dev/zero` (or any file) as standard input.
    File(PathBuf),
    /// These bytes, then zeros until the child stops reading (an endless pipe).
    Endless(Vec<u8>),
    /// These bytes, then this pattern again and again until the child stops reading.
    EndlessOf(Vec<u8>, Vec<u8>),
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    peak_kib: u64,
}

struct Case {
    dir: tempfile::TempDir,
    /// The configuration directory (master key files), outside the data directory.
    config: tempfile::TempDir,
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

impl Case {
    fn new() -> Case {
        Case {
            dir: tempfile::tempdir().unwrap(),
            config: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    /// Runs custkey under the limits and checks the ones every case shares.
    fn run<S: AsRef<OsStr>>(&self, args: &[S], env: &[(&str, &OsStr)], input: Input) -> Run {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(format!("ulimit -v {AS_LIMIT_KIB} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_custkey"))
            .args(args)
            .current_dir(self.dir.path())
            .env("CUSTKEY_STORE", self.path("service.db"))
            .env("CUSTKEY_CONFIG_DIR", self.config.path())
            .env_remove("SSH_AUTH_SOCK")
            .env("CUSTKEY_KEYRING", "off")
            .env("CUSTKEY_VAULT_KEY", "11".repeat(32))
            .env_remove("CUSTKEY_VAULT_PASSPHRASE")
            .env_remove("CUSTKEY_SERVICE_KEY")
            .env_remove("COLUMNS")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            c.env(k, v);
        }
        match &input {
            Input::Null => {
                c.stdin(Stdio::null());
            }
            Input::File(p) => {
                c.stdin(std::fs::File::open(p).unwrap());
            }
            Input::Bytes(_) | Input::Endless(_) | Input::EndlessOf(..) => {
                c.stdin(Stdio::piped());
            }
        }
        let start = Instant::now();
        let mut child = c.spawn().expect("run custkey");
        let pid = child.id();
        let feeder = match input {
            Input::Bytes(b) => {
                let mut w = child.stdin.take().unwrap();
                Some(std::thread::spawn(move || {
                    let _ = w.write_all(&b);
                }))
            }
            endless @ (Input::Endless(_) | Input::EndlessOf(..)) => {
                let (head, pattern) = match endless {
                    Input::EndlessOf(h, p) => (h, p),
                    Input::Endless(h) => (h, vec![0]),
                    _ => unreachable!(),
                };
                let mut w = child.stdin.take().unwrap();
                Some(std::thread::spawn(move || {
                    if w.write_all(&head).is_err() {
                        return;
                    }
                    let fill: Vec<u8> = pattern.iter().copied().cycle().take(1 << 16).collect();
                    while w.write_all(&fill).is_ok() {}
                }))
            }
            _ => None,
        };
        let mut out_pipe = child.stdout.take().unwrap();
        let mut err_pipe = child.stderr.take().unwrap();
        let out_t = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = out_pipe.read_to_end(&mut v);
            v
        });
        let err_t = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = err_pipe.read_to_end(&mut v);
            v
        });
        let mut peak = 0u64;
        let status = loop {
            if let Some(h) = vm_hwm_kib(pid) {
                peak = peak.max(h);
            }
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if start.elapsed() > TIME_LIMIT {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "custkey {:?} hung: killed after {TIME_LIMIT:?}",
                    shown(args)
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let stdout = String::from_utf8_lossy(&out_t.join().unwrap()).into_owned();
        let stderr = String::from_utf8_lossy(&err_t.join().unwrap()).into_owned();
        if let Some(f) = feeder {
            let _ = f.join();
        }
        let what = format!(
            "custkey {:?}\nstderr: {}",
            shown(args),
            &stderr[..stderr.len().min(2000)]
        );
        assert_eq!(status.signal(), None, "killed by a signal: {what}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("overflowed its stack"),
            "{what}"
        );
        assert!(!stderr.contains("internal error"), "{what}");
        assert!(
            peak < RSS_LIMIT_KIB,
            "peak RSS {peak} KiB over {RSS_LIMIT_KIB} KiB: {what}"
        );
        let code = status.code().unwrap();
        if code != 0 {
            assert!(
                stderr.contains("error: ") && stderr.contains("help: "),
                "no clear error: {what}"
            );
            // A clear error is short: it never echoes a whole hostile input.
            assert!(
                stderr.len() < 16 << 10,
                "{} bytes of stderr: {what}",
                stderr.len()
            );
        }
        Run {
            code,
            stdout,
            stderr,
            peak_kib: peak,
        }
    }

    fn cmd(&self, args: &[&str]) -> Run {
        self.run(args, &[], Input::Null)
    }

    /// Runs and requires this exit code, and `needle` in stderr (for a failure).
    fn expect(&self, args: &[&str], code: i32, needle: &str) -> Run {
        let r = self.cmd(args);
        self.check(args, r, code, needle)
    }

    fn check<S: AsRef<OsStr>>(&self, args: &[S], r: Run, code: i32, needle: &str) -> Run {
        assert_eq!(
            r.code,
            code,
            "custkey {:?}: exit {} (peak {} KiB)\nstdout: {}\nstderr: {}",
            shown(args),
            r.code,
            r.peak_kib,
            &r.stdout[..r.stdout.len().min(2000)],
            &r.stderr[..r.stderr.len().min(2000)]
        );
        assert!(
            r.stderr.contains(needle),
            "custkey {:?}: stderr lacks {needle:?}: {}",
            shown(args),
            &r.stderr[..r.stderr.len().min(2000)]
        );
        r
    }

    fn script(&self, text: &str, code: i32, needle: &str) -> Run {
        let p = self.write("hostile.ps1", text);
        let args = ["-File", p.to_str().unwrap()];
        let r = self.cmd(&args);
        self.check(&args, r, code, needle)
    }

    fn with_mailbox(self) -> Case {
        self.expect(&["New-Mailbox", "-Name", "alice"], 0, "");
        self
    }

    fn pack_files(&self) -> usize {
        let dir = self.path("content");
        let Ok(rd) = std::fs::read_dir(&dir) else {
            return 0;
        };
        rd.flatten()
            .flat_map(|m| std::fs::read_dir(m.path()).into_iter().flatten().flatten())
            .filter(|f| f.path().extension().is_some_and(|x| x == "pack"))
            .count()
    }
}

/// Arguments as a failure message shows them: each cut to 80 characters.
fn shown<S: AsRef<OsStr>>(args: &[S]) -> Vec<String> {
    args.iter()
        .map(|a| {
            let s = a.as_ref().to_string_lossy();
            if s.len() > 80 {
                let short: String = s.chars().take(80).collect();
                format!("{short}... ({} bytes)", s.len())
            } else {
                s.into_owned()
            }
        })
        .collect()
}

const DEEP: &str = "nests deeper";

#[test]
fn script_language() {
    let c = Case::new();
    // Left-deep chains, each 10,000 long.
    c.script(&format!("$a{}", ".b".repeat(10_000)), 2, DEEP);
    c.script(&format!("1{}", " -eq 1".repeat(10_000)), 2, DEEP);
    c.script(&format!("1{}", " + 1".repeat(10_000)), 2, DEEP);
    c.script(&format!("$a{}", "[0]".repeat(10_000)), 2, DEEP);
    c.script(&format!("$a{}", " -and $a".repeat(10_000)), 2, DEEP);
    c.script(&format!("$a{}", " -or $a".repeat(10_000)), 2, DEEP);
    c.script(
        &format!("'x' -like 'x'{}", " -like 'x'".repeat(10_000)),
        2,
        DEEP,
    );
    // Nesting.
    c.script(
        &format!("$x = {}1{}", "(".repeat(20_000), ")".repeat(20_000)),
        2,
        DEEP,
    );
    c.script(&format!("{}$true", "-not ".repeat(20_000)), 2, DEEP);
    c.script(&format!("{}$true", "!".repeat(20_000)), 2, DEEP);
    c.script(
        &format!("$x = {}1{}", "$(".repeat(20_000), ")".repeat(20_000)),
        2,
        DEEP,
    );
    c.script(
        &format!("$x = {}1{}", "@(".repeat(20_000), ")".repeat(20_000)),
        2,
        DEEP,
    );
    c.script(
        &format!(
            "{}1{}",
            "Where-Object { ".repeat(20_000),
            "}".repeat(20_000)
        ),
        2,
        DEEP,
    );
    let mut s = String::from("1");
    for _ in 0..2_000 {
        s = format!("\"$({s})\"");
    }
    c.script(&s, 2, DEEP);
    c.script(
        &format!("$a{}1{}", "[$a".repeat(5_000), "]".repeat(5_000)),
        2,
        DEEP,
    );
    c.script(&format!("{}1", "if ($true) { ".repeat(20_000)), 2, DEEP);
    c.script(&format!("$a{}", ".b()".repeat(10_000)), 2, DEEP);
    c.script(
        &format!("$a.b({}1{})", "$a.b(".repeat(10_000), ")".repeat(10_000)),
        2,
        DEEP,
    );
    c.script(&format!("{}1", "switch (1) { 1 { ".repeat(20_000)), 2, DEEP);
    c.script(&format!("$h = {}1", "@{a=".repeat(20_000)), 2, DEEP);
    // Just under the limits still runs.
    let r = c.script(&format!("1{}", " + 1".repeat(90)), 0, "");
    assert_eq!(r.stdout.trim(), "91");
    // Values that double until they are too large.
    c.script(
        &format!("$s = 'ab'\n{}", "$s = $s + $s\n".repeat(40)),
        2,
        "MiB a script value may hold",
    );
    c.script(
        &format!("$s = 'ab'\n{}", "$s = $s, $s\n".repeat(40)),
        2,
        "MiB a script value may hold",
    );
    c.script(
        &format!("$s = 'ab'\n{}", "$s = @($s; $s)\n".repeat(40)),
        2,
        "MiB a script value may hold",
    );
    c.script(
        &format!("$a = 1\n{}", "$a = $a, 1\n".repeat(200)),
        2,
        "nest arrays deeper",
    );
    // Methods, Add-Member and property assignment that grow or nest a value each time.
    c.script(
        &format!("$s = 'aa'\n{}", "$s = $s.Replace('a', 'aa')\n".repeat(40)),
        2,
        "MiB a script value may hold",
    );
    c.script(
        &format!(
            "$o = @{{}}\n$s = 'x' * 1000000\n{}",
            (0..40)
                .map(|k| format!("$o | Add-Member -NotePropertyName a{k} -NotePropertyValue $s\n"))
                .collect::<String>()
        ),
        2,
        "the object with its new member would be larger",
    );
    c.script(
        &format!(
            "$o = @{{}}\n{}",
            "$o | Add-Member -NotePropertyName a -NotePropertyValue $o -Force\n".repeat(200)
        ),
        2,
        "deeper than 100 levels",
    );
    c.script(
        &format!("$o = @{{}}\n{}", "$o.a = $o\n".repeat(200)),
        2,
        "deeper than 100 levels",
    );
    // Unterminated constructs at the end of a large script.
    c.script(&format!("'{}", "x".repeat(500_000)), 2, "closing quote");
    c.script(&format!("<# {}", "x".repeat(500_000)), 2, "block comment");
    // Scripts larger than the limit, from a file, an endless file and standard input.
    c.script(&"#".repeat(2 << 20), 2, "larger than 1 MiB");
    c.expect(&["-File", "/dev/zero"], 2, "larger than 1 MiB");
    let r = c.run(&["-Command", "-"], &[], Input::File("/dev/zero".into()));
    c.check(&["-Command", "-"], r, 2, "larger than 1 MiB");
    let r = c.run::<&str>(&[], &[], Input::Endless(b"Get-Date #".to_vec()));
    c.check(&["<stdin>"], r, 2, "larger than 1 MiB");
    let r = c.run(&["-Command", "-"], &[], Input::Bytes(vec![0xff; 100_000]));
    c.check(&["-Command", "-"], r, 2, "UTF-8");
}

#[test]
fn wildcards() {
    let c = Case::new();
    // Exponential for a backtracking matcher; linear here.
    let r = c.expect(&["Get-Command", "*?*?*?*?*?*?*?*?*?*?*Q"], 0, "");
    assert!(r.stdout.trim().is_empty(), "{}", r.stdout);
    c.expect(
        &["Get-Command", "-Name", &format!("{}Q", "*a".repeat(5_000))],
        0,
        "",
    );
    c.expect(
        &["Get-Command", "-Property", "*?*?*?*?*?*?*?*?*?*?*Q"],
        0,
        "",
    );
    let long = "a".repeat(4_000);
    let r = c.script(&format!("'{long}' -like '{}b'", "*a".repeat(11)), 0, "");
    assert_eq!(r.stdout.trim(), "False");
    let r = c.script(
        &format!(
            "@('{long}', '{long}') | Where-Object {{ $_ -like '*?*?*?*?*?*?*?*?*?*?*Q' }} | Measure-Object | Select-Object -ExpandProperty Count"
        ),
        0,
        "",
    );
    assert_eq!(r.stdout.trim(), "0");
    let r = c.script(
        &format!("@('{long}') | Where-Object Length -Like '*?*?*?*?*?*?*?*?*?*?*Q'"),
        0,
        "",
    );
    assert!(r.stdout.trim().is_empty());
    // A pattern of a million stars (within the script limit).
    let r = c.script(&format!("'abc' -like '{}'", "*".repeat(1_000_000)), 0, "");
    assert_eq!(r.stdout.trim(), "True");
}

#[test]
fn opath_filters() {
    let c = Case::new().with_mailbox();
    let deep = format!("{}Name -eq alice{}", "(".repeat(20_000), ")".repeat(20_000));
    c.expect(&["Get-Mailbox", "-Filter", &deep], 2, "nest deeper");
    let nots = format!("{}Name -eq alice", "-not ".repeat(20_000));
    c.expect(&["Get-Mailbox", "-Filter", &nots], 2, "nest deeper");
    // A long flat chain is fine.
    let chain = vec!["Name -eq alice"; 5_000].join(" -and ");
    let r = c.expect(
        &["Get-Mailbox", "-Filter", &chain, "-Format", "Json"],
        0,
        "",
    );
    assert!(r.stdout.contains("alice"));
    let ors = vec!["Name -like '*?*?*?*?*?*?*?*?*?*?*Q'"; 3_000].join(" -or ");
    c.expect(&["Get-Mailbox", "-Filter", &ors], 0, "");
    c.expect(
        &["Get-Mailbox", "-Filter", &"'".repeat(100_001)],
        2,
        "quote",
    );
    c.expect(
        &["Get-Mailbox", "-Filter", &"(".repeat(100_000)],
        2,
        "Filter",
    );
    // In a script and in a rollout file.
    c.script(&format!("Get-Mailbox -Filter \"{deep}\""), 2, "nest deeper");
    let f = c.write(
        "deep.toml",
        format!(
            "[[dep]]\nname = 'US'\nkey_ids = ['https://a.vault.azure.net/keys/k', 'https://b.vault.azure.net/keys/k']\n[[assignment]]\ndep = 'US'\nfilter = \"{deep}\"\n"
        ),
    );
    let r = c.cmd(&["Test-CustomerKeyConfiguration", f.to_str().unwrap()]);
    assert!(matches!(r.code, 1 | 2), "{}", r.stderr);
}

#[test]
fn rollout_files() {
    let c = Case::new();
    let test = |p: &Path, code: i32, needle: &str| {
        c.expect(
            &[
                "Test-CustomerKeyConfiguration",
                "-Path",
                p.to_str().unwrap(),
            ],
            code,
            needle,
        )
    };
    test(Path::new("/dev/zero"), 2, "larger than 1 MiB");
    test(
        &c.write("big.toml", "#".repeat(2 << 20)),
        2,
        "larger than 1 MiB",
    );
    test(&c.write("bin.toml", [0xffu8; 1000]), 2, "UTF-8");
    test(
        &c.write(
            "arrays.toml",
            format!("a = {}1{}", "[".repeat(100_000), "]".repeat(100_000)),
        ),
        2,
        "",
    );
    test(
        &c.write(
            "tables.toml",
            format!("a = {}1{}", "{b = ".repeat(100_000), "}".repeat(100_000)),
        ),
        2,
        "",
    );
    test(
        &c.write(
            "dotted.toml",
            format!("{} = 1", vec!["a"; 100_000].join(".")),
        ),
        2,
        "",
    );
    let r = test(
        &c.write("line.toml", format!("x = '{}", "y".repeat(900_000))),
        2,
        "",
    );
    assert!(r.stderr.len() < 8000, "{}", r.stderr.len());
    test(&c.write("keys.toml", "[[dep]]\n".repeat(100_000)), 2, "");
}

#[test]
fn key_backups() {
    let c = Case::new();
    c.expect(
        &["Set-AzContext", "-Subscription", "Contoso-CK-Sub1"],
        0,
        "",
    );
    c.expect(&["New-AzKeyVault", "contoso-ck-va1", "rg", "westus"], 0, "");
    let restore = |p: &Path| {
        c.cmd(&[
            "Restore-AzKeyVaultKey",
            "contoso-ck-va1",
            p.to_str().unwrap(),
        ])
    };
    let r = restore(Path::new("/dev/zero"));
    c.check(&["Restore /dev/zero"], r, 2, "larger than 16 MiB");
    let r = restore(&c.write("big.backup", vec![b' '; (16 << 20) + 1]));
    c.check(&["Restore big"], r, 2, "larger than 16 MiB");
    for (name, blob) in [
        (
            "nested.backup",
            format!("{}{}", "[".repeat(1 << 20), "]".repeat(1 << 20)).into_bytes(),
        ),
        ("objects.backup", "{\"a\":".repeat(200_000).into_bytes()),
        (
            "random.backup",
            (0..1_000_000u32)
                .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
                .collect(),
        ),
        (
            "header.backup",
            br#"{"header":{"format":"custkey-key-backup","version":1},"body":"#.to_vec(),
        ),
        ("empty.backup", Vec::new()),
    ] {
        let r = restore(&c.write(name, blob));
        assert!(matches!(r.code, 1 | 2), "{name}: {} {}", r.code, r.stderr);
    }
    let r = restore(&c.path("missing.backup"));
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn mail_import() {
    let c = Case::new().with_mailbox();
    let import = |p: &str| c.cmd(&["New-MailboxImportRequest", "alice", p]);
    let r = import("/dev/zero");
    c.check(&["import /dev/zero"], r, 2, "not an mbox file");
    let r = import("/dev/urandom");
    c.check(&["import /dev/urandom"], r, 2, "not an mbox file");
    // A message that never ends stops at the message limit and leaves no pack behind.
    let eml = c.path("endless.eml");
    std::os::unix::fs::symlink("/dev/zero", &eml).unwrap();
    let r = import(eml.to_str().unwrap());
    c.check(&["import endless.eml"], r, 2, "larger than 150 MiB");
    assert_eq!(c.pack_files(), 0);
    // An endless mbox message on standard input, and a line that never ends.
    let args = ["New-MailboxImportRequest", "alice", "-"];
    let r = c.run(&args, &[], Input::Endless(b"From x\n".to_vec()));
    c.check(&args, r, 2, "larger than 150 MiB");
    assert_eq!(c.pack_files(), 0);
    // An endless message of empty lines (every line start a possible boundary).
    for pattern in [&b"\n"[..], b"\r\n", b"From x\n", b"\nFrom ", b"\r"] {
        let r = c.run(
            &args,
            &[],
            Input::EndlessOf(b"From x\n".to_vec(), pattern.to_vec()),
        );
        c.check(&args, r, 2, "larger than 150 MiB");
    }
    // Endless messages of one line each: each within the limit, until the time limit would
    // hit; so here a bounded number of them.
    let mut many = Vec::new();
    for _ in 0..2000 {
        many.extend_from_slice(b"From x\n\n");
    }
    let r = c.run(&args, &[], Input::Bytes(many));
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Small mboxes from a file, standard input and a FIFO; one message from standard input.
    let mbox = b"From a\nSubject: 1\n\nbody\n\nFrom b\nSubject: 2\n\nbody\nFrom c is not a start\n"
        .to_vec();
    let p = c.write("m.mbox", &mbox);
    let r = c.expect(
        &[
            "New-MailboxImportRequest",
            "alice",
            p.to_str().unwrap(),
            "-Format",
            "Json",
        ],
        0,
        "",
    );
    assert!(r.stdout.contains("\"ItemsTransferred\": 2"), "{}", r.stdout);
    let r = c.run(
        &["New-MailboxImportRequest", "alice", "-", "-Format", "Json"],
        &[],
        Input::Bytes(mbox.clone()),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("\"ItemsTransferred\": 2"), "{}", r.stdout);
    let r = c.run(
        &[
            "New-MailboxImportRequest",
            "alice",
            "-FilePath",
            "-",
            "-Format",
            "Json",
        ],
        &[],
        Input::Bytes(b"Subject: one\n\nbody\n".to_vec()),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("\"ItemsTransferred\": 1"), "{}", r.stdout);
    let fifo = c.path("mail.fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let writer = {
        let fifo = fifo.clone();
        let mbox = mbox.clone();
        std::thread::spawn(move || {
            let mut f = std::fs::OpenOptions::new().write(true).open(fifo).unwrap();
            let _ = f.write_all(&mbox);
        })
    };
    let r = c.expect(
        &[
            "New-MailboxImportRequest",
            "alice",
            fifo.to_str().unwrap(),
            "-Format",
            "Json",
        ],
        0,
        "",
    );
    writer.join().unwrap();
    assert!(r.stdout.contains("\"ItemsTransferred\": 2"), "{}", r.stdout);
    // Many tiny messages stream through.
    let many = c.write("many.mbox", "From x\n\n".repeat(5_000));
    let r = c.expect(
        &[
            "New-MailboxImportRequest",
            "alice",
            many.to_str().unwrap(),
            "-Format",
            "Json",
        ],
        0,
        "",
    );
    assert!(
        r.stdout.contains("\"ItemsTransferred\": 5000"),
        "{}",
        r.stdout
    );
    let r = c.expect(
        &["Get-MailboxStatistics", "alice", "-Format", "Json"],
        0,
        "",
    );
    assert!(r.stdout.contains("\"ItemCount\": 7007"), "{}", r.stdout);
    // A folder that is empty, a path that does not exist.
    std::fs::create_dir(c.path("empty")).unwrap();
    let r = import(c.path("empty").to_str().unwrap());
    c.check(&["import empty/"], r, 2, "no .eml files");
    let r = import(c.path("missing.mbox").to_str().unwrap());
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn sharepoint_files() {
    let c = Case::new();
    let site = "https://contoso.sharepoint.com/sites/a";
    c.expect(
        &[
            "New-PnPSite",
            "-Type",
            "TeamSite",
            "-Title",
            "A",
            "-Url",
            site,
        ],
        0,
        "",
    );
    let upload = |p: &str| {
        c.cmd(&[
            "Add-PnPFile",
            "-Path",
            p,
            "-Folder",
            "Shared Documents",
            "-Site",
            site,
        ])
    };
    // A file past the limit is refused before it is read; an endless one stops at the limit.
    let big = c.path("big.bin");
    std::fs::File::create(&big)
        .unwrap()
        .set_len((512 << 20) + 1)
        .unwrap();
    let r = upload(big.to_str().unwrap());
    c.check(&["Add-PnPFile big.bin"], r, 2, "larger than 512 MiB");
    let r = upload("/dev/zero");
    c.check(&["Add-PnPFile /dev/zero"], r, 2, "larger than 512 MiB");
    let r = c.expect(
        &[
            "Get-PnPFolderItem",
            "-FolderSiteRelativeUrl",
            "Shared Documents",
            "-Site",
            site,
            "-Format",
            "Json",
        ],
        0,
        "",
    );
    assert!(!r.stdout.contains("zero"), "{}", r.stdout);
}

#[test]
fn key_ids_and_pkcs11_uris() {
    let c = Case::new();
    c.expect(
        &["Set-AzContext", "-Subscription", "Contoso-CK-Sub1"],
        0,
        "",
    );
    // Two of them must fit one argument (at most 128 KiB on Linux).
    let long = "a".repeat(50_000);
    let ids = [
        format!("https://{long}.vault.azure.net/keys/k"),
        format!("https://v.vault.azure.net/keys/{long}"),
        format!("https://v.vault.azure.net/keys/k/{long}"),
        format!("https://v.vault.azure.net{}", "/keys".repeat(10_000)),
        "https://é.vault.azure.net/keys/ü".to_string(),
        "httpsé://".to_string(),
        "\u{1b}[31mhttps://v.vault.azure.net/keys/k".to_string(),
        format!("pkcs11:{}", ";".repeat(50_000)),
        format!("pkcs11:token={}", "%".repeat(50_000)),
        format!("pkcs11:token=%zz;object={long}"),
        format!("pkcs11:{}", "token=a;".repeat(5_000)),
        "pkcs11:token=%E2%82".to_string(),
        "PKCS11:".to_string(),
    ];
    for id in &ids {
        let list = format!("{id},{id}");
        let r = c.cmd(&[
            "New-DataEncryptionPolicy",
            "-Name",
            "x",
            "-AzureKeyIDs",
            &list,
        ]);
        assert!(matches!(r.code, 1 | 2), "{}: {}", id.len(), r.stderr);
        assert!(!r.stderr.contains('\u{1b}'), "{}", r.stderr);
        let r = c.cmd(&["Get-AzKeyVaultKey", "-VaultName", id, "-Name", id]);
        assert!(matches!(r.code, 1 | 2), "{}: {}", id.len(), r.stderr);
    }
}

#[test]
fn environment_variables() {
    let c = Case::new();
    let bad: &[(&str, &str)] = &[
        ("CUSTKEY_SPO_TIK_REFRESH_SECONDS", "1e13"),
        ("CUSTKEY_SPO_TIK_REFRESH_SECONDS", "10000000000000"),
        ("CUSTKEY_SPO_TIK_CACHE_SECONDS", "9223372036854775807"),
        ("CUSTKEY_SPO_TIK_CACHE_SECONDS", "-1"),
        ("CUSTKEY_SPO_CLOCK_OFFSET_SECONDS", "9223372036854775807"),
        ("CUSTKEY_SPO_CLOCK_OFFSET_SECONDS", "-9223372036854775808"),
        ("CUSTKEY_FAULT_IMPORT_AFTER_ITEMS", "x"),
        ("CUSTKEY_FAULT_MOVE_AFTER_ITEMS", "-3"),
        (
            "CUSTKEY_FAULT_SPO_REGISTER_AFTER_SITES",
            "99999999999999999999",
        ),
        ("CUSTKEY_FAULT_SPO_ROLL", "maybe"),
        ("CUSTKEY_KEYRING", "sometimes"),
        ("CUSTKEY_ASSUME_TTY", "2"),
        ("CUSTKEY_BACKTRACE", "full"),
        ("COLUMNS", "0"),
        ("COLUMNS", "70000"),
        ("COLUMNS", "wide"),
    ];
    for (k, v) in bad {
        let r = c.run(
            &["Get-Command", "Get-Date"],
            &[(k, OsStr::new(v))],
            Input::Null,
        );
        let r = c.check(&[format!("{k}={v}")], r, 2, k);
        assert!(
            r.stderr.contains("from") || r.stderr.contains("one of"),
            "{}",
            r.stderr
        );
    }
    let long = "9".repeat(100_000);
    let r = c.run(
        &["Get-Command", "Get-Date"],
        &[("CUSTKEY_SPO_TIK_CACHE_SECONDS", OsStr::new(&long))],
        Input::Null,
    );
    c.check(&["long"], r, 2, "CUSTKEY_SPO_TIK_CACHE_SECONDS");
    let not_utf8 = <OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"\xff\xfe");
    let r = c.run(
        &["Get-Command", "Get-Date"],
        &[("CUSTKEY_SPO_TIK_REFRESH_SECONDS", not_utf8)],
        Input::Null,
    );
    c.check(&["not utf-8"], r, 2, "UTF-8");
    // In range, and the largest values, work.
    for (k, v) in [
        ("CUSTKEY_SPO_TIK_CACHE_SECONDS", "315360000"),
        ("CUSTKEY_SPO_CLOCK_OFFSET_SECONDS", "3153600000"),
        ("COLUMNS", "65535"),
        ("COLUMNS", "1"),
        ("CUSTKEY_KEYRING", "OFF"),
        ("COLUMNS", ""),
    ] {
        let r = c.run(
            &["Get-Command", "Get-Date"],
            &[(k, OsStr::new(v))],
            Input::Null,
        );
        assert_eq!(r.code, 0, "{k}={v}: {}", r.stderr);
    }
}

#[test]
fn output_of_hostile_names() {
    let c = Case::new();
    // A 4 MiB display name, built by the script (a command line cannot carry it).
    let r = c.script(
        "$n = 'a'\nforeach ($i in 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22) { $n = $n + $n }\nNew-Mailbox -Name big -DisplayName $n | Out-Null\n'done'",
        0,
        "",
    );
    assert_eq!(r.stdout.trim(), "done");
    for (cols, form) in [("", "Table"), ("100", "Table"), ("", "List"), ("", "Json")] {
        let r = c.run(
            &[
                "Get-Mailbox",
                "big",
                "-Property",
                "Name,DisplayName",
                "-Format",
                form,
            ],
            &[("COLUMNS", OsStr::new(cols))],
            Input::Null,
        );
        assert_eq!(r.code, 0, "{form}: {}", r.stderr);
    }
    // Terminal escapes in a name: neutralised in tables and lists, exact in JSON.
    let r = c.run(
        &[
            "-Command",
            "New-Mailbox -Name evil -DisplayName $env:EVIL | Out-Null",
        ],
        &[(
            "EVIL",
            OsStr::new("\u{1b}]0;owned\u{7}\u{1b}[2J\r\nName : fake\u{9b}31m\u{202e}"),
        )],
        Input::Null,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    for form in ["Table", "List"] {
        for cols in ["", "60"] {
            let r = c.run(
                &[
                    "Get-Mailbox",
                    "evil",
                    "-Property",
                    "Name,DisplayName",
                    "-Format",
                    form,
                ],
                &[("COLUMNS", OsStr::new(cols))],
                Input::Null,
            );
            assert_eq!(r.code, 0, "{}", r.stderr);
            assert!(
                !r.stdout
                    .chars()
                    .any(|ch| (ch.is_control() && ch != '\n') || ch == '\u{202e}'),
                "{form}: {:?}",
                r.stdout
            );
            assert!(r.stdout.contains("\\x1b"), "{form}: {}", r.stdout);
        }
    }
    let r = c.expect(&["Get-Mailbox", "evil", "-Format", "Json"], 0, "");
    assert!(r.stdout.contains("\\u001b]0;owned\\u0007"), "{}", r.stdout);
}
