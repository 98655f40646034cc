//! PowerShell wildcards (`-like`, `Where-Object -Like`, `-Filter`, `-Property`, `Get-Command`):
//! `*` any run of characters, `?` exactly one, everything else itself, without regard to case.
//!
//! The one matcher every caller uses. It is the greedy matcher that remembers only the last
//! `*`: on a mismatch it retries from one character further after that star, never from an
//! earlier one (an earlier star can only match less of what the later one already covers). So
//! it takes at most `pattern × text` steps, and none of the exponential backtracking a recursive
//! matcher does on `*?*?*?...`; runs of stars count as one, and nothing recurses. Self-contained
//! (no other module of custkey), so the fuzz targets include it as it is.

/// Whether `text` matches `pattern`, case-insensitively.
pub fn wildcard(pattern: &str, text: &str) -> bool {
    let mut p: Vec<char> = Vec::with_capacity(pattern.len());
    for c in pattern.chars().flat_map(char::to_lowercase) {
        // `**` is `*`: collapsing runs keeps the pattern (and the work) as short as its meaning.
        if !(c == '*' && p.last() == Some(&'*')) {
            p.push(c);
        }
    }
    let t: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
    matches(&p, &t)
}

/// The matcher on lower-cased characters.
fn matches(p: &[char], t: &[char]) -> bool {
    let (mut pi, mut ti) = (0usize, 0usize);
    // After the last `*` seen: where the pattern resumes, and where in the text it was tried.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                pi += 1;
                star = Some((pi, ti));
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                // Let the last star swallow one more character and try again from there.
                Some((sp, st)) => {
                    pi = sp;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    // The text is used up: only stars may remain.
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The obvious recursive definition, for comparing on small inputs.
    fn reference(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('*', rest)) => (0..=t.len()).any(|i| reference(rest, &t[i..])),
            Some(('?', rest)) => !t.is_empty() && reference(rest, &t[1..]),
            Some((c, rest)) => t.first() == Some(c) && reference(rest, &t[1..]),
        }
    }

    #[test]
    fn matches_like_powershell() {
        assert!(wildcard("*Encrypt*", "DataEncryptionPolicy"));
        assert!(wildcard("get-*", "Get-Mailbox"));
        assert!(wildcard("G?t-Mailbox", "get-mailbox"));
        assert!(!wildcard("Set-*", "Get-Mailbox"));
        assert!(wildcard("", ""));
        assert!(!wildcard("", "a"));
        assert!(wildcard("*", ""));
        assert!(wildcard("***", "abc"));
        assert!(!wildcard("?", ""));
        assert!(wildcard("a*b*c", "aXbYbZc"));
        assert!(!wildcard("a*b*c", "aXbYbZ"));
        assert!(wildcard("ÄB?", "äbc"));
    }

    #[test]
    fn agrees_with_the_recursive_definition() {
        // Every pattern and text over a small alphabet up to a small length.
        let alphabet = ['a', 'b', '*', '?'];
        let mut pats: Vec<Vec<char>> = vec![vec![]];
        for _ in 0..5 {
            let next: Vec<Vec<char>> = pats
                .iter()
                .flat_map(|p| {
                    alphabet.iter().map(move |c| {
                        let mut q = p.clone();
                        q.push(*c);
                        q
                    })
                })
                .collect();
            pats.extend(next);
            pats.sort();
            pats.dedup();
        }
        let texts: Vec<Vec<char>> = pats
            .iter()
            .filter(|p| p.iter().all(|c| *c == 'a' || *c == 'b'))
            .cloned()
            .collect();
        for p in &pats {
            for t in &texts {
                assert_eq!(matches(p, t), reference(p, t), "{p:?} {t:?}");
            }
        }
    }

    #[test]
    fn hostile_patterns_take_linear_time() {
        let start = std::time::Instant::now();
        assert!(!wildcard("*?*?*?*?*?*?*?*?*?*?*Q", &"a".repeat(4000)));
        assert!(!wildcard(&"*a".repeat(11), &"a".repeat(10)));
        assert!(wildcard(&"*".repeat(1_000_000), "anything"));
        assert!(!wildcard(
            &format!("{}b", "*a".repeat(200)),
            &"a".repeat(2000)
        ));
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }
}
