// Calls to the admin API with the token kept in sessionStorage. Every error of the API has a stable
// id (unauthorized, forbidden, not_found, invalid_request, conflict, internal_error) and a message.

const TOKEN_KEY = 'argus-gateway.token';
const API_BASE = '/api/v1';

export class ApiRequestError extends Error {
  constructor(id, message, status) {
    super(message);
    this.id = id;
    this.status = status;
  }
}

export function storedToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function storeToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** Sends a request and returns the response; an error status becomes an ApiRequestError. */
async function send(path, { method = 'GET', body, accept = 'application/json', token = storedToken() } = {}) {
  const headers = { accept };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response;
  try {
    response = await fetch(`${API_BASE}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (error) {
    throw new ApiRequestError('network_error', `The gateway did not respond (${error.message}). Check that it runs, then try again.`, 0);
  }
  if (response.ok) return response;
  let id = 'internal_error';
  let message = `The request failed with HTTP ${response.status}.`;
  try {
    const problem = await response.json();
    id = problem.error?.id ?? id;
    message = problem.error?.message ?? message;
  } catch {
    // A body that is not the API's JSON error keeps the generic message.
  }
  throw new ApiRequestError(id, message, response.status);
}

export async function getJson(path, options) {
  return (await send(path, options)).json();
}

export async function postJson(path, body) {
  return (await send(path, { method: 'POST', body })).json();
}

/** Returns an object URL of a binary resource (a preview PNG, a CSV export); the caller revokes it. */
export async function getObjectUrl(path, accept) {
  const response = await send(path, { accept });
  return URL.createObjectURL(await response.blob());
}

/** Builds a query string from the entries whose value is not empty. */
export function queryString(parameters) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(parameters)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}
