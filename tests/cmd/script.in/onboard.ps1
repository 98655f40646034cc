# Onboard the mailboxes named on the command line: custkey -File onboard.ps1 NAME...
<# A block comment
   over two lines. #>
$names = $args
"onboarding $($names.Count) mailboxes: $names"
$made = $names | ForEach-Object { New-Mailbox -Name $_ }
Get-Mailbox `
    -Identity $names[0]
