/**
 * Stands in for the app's IMAP client: "opens" a mailbox and answers as a server would, after a short
 * while. A real app would run ImapFlow here (and could log every command with `livetail/imapflow`).
 */
export async function selectMailbox(mailbox) {
  const started = performance.now();
  await new Promise((resolve) => setTimeout(resolve, 20));
  const exists = 3 + mailbox.length;
  return {
    command: 'SELECT',
    raw: `A1 SELECT ${JSON.stringify(mailbox)}`,
    parsed: { mailbox, exists, uidValidity: 1700000000 },
    response: `* ${exists} EXISTS\r\n* OK [UIDVALIDITY 1700000000] UIDs valid\r\nA1 OK [READ-WRITE] SELECT completed`,
    duration: Math.round(performance.now() - started),
  };
}
