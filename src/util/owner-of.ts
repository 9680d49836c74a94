/**
 * Names the owner of an entry or job event from the `userId` it claims (undefined when it names none):
 * the owner, or why the input cannot be taken (it becomes a validation issue at `userId`). The in-process
 * API passes its caller's userId; the HTTP routes pass the request's caller, and may throw their own
 * refusal instead (a session naming another user).
 */
export type OwnerOf = (claimed: string | undefined) => string | { invalid: string };
