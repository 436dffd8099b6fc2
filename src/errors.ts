/** The one way an error becomes the text a user reads. */
import { InfraError } from './task-api.js';

/** An error's message; an `InfraError`'s hint (what to do about it) on a line of its own. */
export function errorMessage(err: unknown): string {
  if (err instanceof InfraError) return err.hint && !err.message.includes(err.hint) ? `${err.message}\n  ${err.hint}` : err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}
