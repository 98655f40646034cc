# Stops at the first failure (exit 1), so the last line never runs.
New-Mailbox -Name Erin | Out-Null
Set-Mailbox -Identity nobody -DisplayName x
"not reached"
