# A script with a syntax error on line 3
Get-Mailbox
$x = Get-Mailbox | Where-Object { $_.Name -like "a*" 
