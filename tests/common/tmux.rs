//! A tmux server of a test's own (a real pseudo-terminal to type into), killed when dropped.

#![allow(dead_code)]

use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts a server with one session `shell` of `width` columns running `command` (a
    /// /bin/sh command line).
    pub fn start(name: &str, width: u16, command: &str) -> Tmux {
        let t = Tmux {
            socket: format!("custkey-{name}-{}", std::process::id()),
        };
        let w = width.to_string();
        let out = t.cmd(&[
            "new-session",
            "-d",
            "-s",
            "shell",
            "-x",
            &w,
            "-y",
            "40",
            command,
        ]);
        assert!(out.status.success(), "tmux new-session: {out:?}");
        t
    }
    pub fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux is installed (.ci/run installs it)")
    }
    /// Types `text` literally.
    pub fn type_text(&self, text: &str) {
        self.cmd(&["send-keys", "-t", "shell", "-l", text]);
    }
    /// Presses keys by tmux name (`Tab`, `Enter`, `C-c`).
    pub fn press(&self, keys: &str) {
        self.cmd(&["send-keys", "-t", "shell", keys]);
    }
    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "shell"]).stdout)
            .into_owned()
    }
    /// Waits (up to `secs`) until the screen shows `what`; returns the screen.
    pub fn wait_for_within(&self, what: &str, secs: u64) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if s.contains(what) {
                return s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(secs),
                "the screen never showed {what:?}:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    pub fn wait_for(&self, what: &str) -> String {
        self.wait_for_within(what, 20)
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}
