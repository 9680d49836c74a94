/** The text of `livetail --help` and of each command's --help. */

export const MAIN_HELP = `livetail: the terminal side of the livetail console

Usage: livetail <command> [options]

Commands:
  tail       Stream your logs live, one coloured line each (like kubectl logs -f)
  publish    Send a log or a job event to the server (with INGEST_TOKEN, or as a signed-in user)

Run "livetail <command> --help" for the options of a command.

Environment:
  LIVETAIL_URL       server URL (default http://localhost:3002); --url overrides it
  INGEST_TOKEN       the server's service token, for publish
  LIVETAIL_PASSWORD  the password for --email, so it stays out of the shell history
  LIVETAIL_COOKIE    a session cookie, instead of --email/--password
  NO_COLOR           no colours (FORCE_COLOR forces them)

Exit codes: 0 done (tail: stopped with Ctrl-C), 1 the server refused or cannot be reached,
2 bad command line, 3 the session ended while tailing.
`;

export const TAIL_HELP = `Usage: livetail tail [options]

Streams the signed-in user's logs, oldest first, newest at the bottom, and keeps following:
it reconnects by itself and resumes after the last log it printed, with no gap and no
duplicate. Ctrl-C stops it. Connection changes are reported on stderr; stdout has only logs.

Sign in (one of):
  --email <email> --password <password>
                     sign in with better-auth (or set LIVETAIL_PASSWORD)
  --cookie <cookie>  an existing session cookie, "better-auth.session_token=..." (or LIVETAIL_COOKIE)
  --origin <origin>  the Origin sent with the sign-in; it must be one of the server's trusted
                     origins (default: the origin of --url, which is BASE_URL's by default)

Options:
  --url <url>        server (default: LIVETAIL_URL or http://localhost:3002)
  --level <level>    only this level and above: debug, info, warn, error
  --account <id>     only this email account (repeat for several)
  --since <log id>   start after this log instead of with the latest logs
  --jobs             also print job events
  --json             one JSON object per line: the log exactly as the server sent it
  --color, --no-color
                     force colours on or off (default: on for a terminal, off when piped)
  -h, --help         this help

Examples:
  livetail tail --email me@example.com --password 'correct horse battery staple'
  livetail tail --cookie "$COOKIE" --level warn --account acct-1
  livetail tail --email me@example.com --json | jq -r .command
`;

export const PUBLISH_HELP = `Usage: livetail publish [log] --account <id> --command <name> [options]
       livetail publish job --job <id> --status <status> [options]

Sends one log (POST /api/logs) or one job event (POST /api/jobs/events). It appears at once in
every open console and tail of that user. A log goes through livetail/publisher: a network error,
a 5xx or a 429 is tried again (3 attempts in all, never sooner than the server's Retry-After).

Credentials (one of):
  --token <token>    the server's INGEST_TOKEN (default: the INGEST_TOKEN environment variable);
                     then --user <user id> names whose log it is (the console shows your id)
  --email <email> --password <password>, or --cookie <cookie>
                     act as that signed-in user (see livetail tail --help)

Log options:
  --account <id>     email account id (required)
  --command <name>   the operation, e.g. FETCH (required)
  --level <level>    debug, info, warn or error (default info)
  --raw <text>       the raw line sent
  --response <text>  the server's response
  --duration <ms>    how long it took, in milliseconds
  --error <text>     what went wrong
  --parsed <json>    structured data, as JSON

Job options:
  --job <id>         the job id (required)
  --status <status>  e.g. waiting, active, progress, completed, failed (required)
  --progress <0-100> progress in percent
  --name <name>      the job's name
  --failed-reason <text>
                     why it failed
  --data <json>      more fields for the event, as a JSON object

Common options:
  --user <id>        the user id (required with --token)
  --url <url>        server (default: LIVETAIL_URL or http://localhost:3002)
  --json             print the server's answer as JSON
  -h, --help         this help

Examples:
  INGEST_TOKEN=... livetail publish --user <id> --account me@example.com --command FETCH --raw 'A1 FETCH 1:*' --duration 42
  livetail publish job --user <id> --job import-1 --status progress --progress 40
  livetail publish --email me@example.com --account a --command LOGIN --level error --error 'auth failed'
`;
