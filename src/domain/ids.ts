import { invalidInput } from './errors.js';

const CLIENT_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** Validates a client id: 1-64 of [A-Za-z0-9._-], never `.`/`..` or anything path-like. */
export function validateClientId(id: unknown): string {
  if (typeof id !== 'string' || id.length === 0) throw invalidInput('client id is missing', 'give an id of 1-64 characters from A-Z a-z 0-9 . _ -');
  const shown = JSON.stringify(id.length > 80 ? id.slice(0, 80) + '…' : id);
  if (!CLIENT_ID.test(id) || id === '.' || id === '..' || id.startsWith('.')) {
    throw invalidInput(`invalid client id ${shown}: use 1-64 characters from A-Z a-z 0-9 . _ - (not starting with a dot)`);
  }
  return id;
}

