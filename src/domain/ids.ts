import { invalidInput } from './errors.js';

const CLIENT_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** Validates a client id: 1-64 of [A-Za-z0-9._-], never `.`/`..` or anything path-like. */
export function validateClientId(id: unknown): string {
  if (id === undefined || id === null || id === '') throw invalidInput('client id is missing', 'give an id of 1-64 characters from A-Z a-z 0-9 . _ -');
  if (typeof id !== 'string') throw invalidInput(`client id must be a string, got ${typeof id === 'object' ? (Array.isArray(id) ? 'an array' : 'an object') : `the ${typeof id} ${JSON.stringify(id)}`}`, 'quote it: "client_id": "api-client-001"');
  const shown = JSON.stringify(id.length > 80 ? id.slice(0, 80) + '…' : id);
  if (!CLIENT_ID.test(id) || id === '.' || id === '..' || id.startsWith('.')) {
    throw invalidInput(`invalid client id ${shown}: use 1-64 characters from A-Z a-z 0-9 . _ - (not starting with a dot)`);
  }
  return id;
}

