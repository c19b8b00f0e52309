// The console's start: sign-in with an API token, the hash routes (#/studies, #/studies/<uid>,
// #/audit) and the status line that announces results and errors to screen readers.

import { ApiRequestError, forgetToken, getJson, storeToken, storedToken } from './api-client.js';
import { showAudit, showStudies, showStudy } from './views.js';

/** The studies table refreshes this often while it is shown. */
const STUDIES_POLL_MS = 5000;

const elements = {
  signInView: document.getElementById('sign-in-view'),
  signInForm: document.getElementById('sign-in-form'),
  tokenInput: document.getElementById('token-input'),
  view: document.getElementById('view'),
  nav: document.getElementById('nav'),
  navAudit: document.getElementById('nav-audit'),
  session: document.getElementById('session'),
  signOut: document.getElementById('sign-out'),
  status: document.getElementById('status'),
};

let session;
let stopView = () => {};

function announce(message, kind = 'info') {
  elements.status.textContent = message;
  elements.status.className = `status status-${kind}`;
}

/** Shows an API error; an unknown or revoked token signs the user out. */
function report(error) {
  if (error instanceof ApiRequestError && error.id === 'unauthorized') {
    signOut(`Signed out: ${error.message}`);
    return;
  }
  announce(error instanceof ApiRequestError ? `${error.message} (${error.id})` : String(error), 'error');
}

const context = {
  announce,
  report,
  reload: () => void route(),
  get canAct() {
    return session?.permissions.includes('act') === true;
  },
};

async function signIn(token) {
  try {
    session = await getJson('/session', { token });
  } catch (error) {
    announce(error instanceof ApiRequestError && error.id === 'unauthorized' ? 'This token is unknown or revoked.' : `Sign-in failed: ${error.message}`, 'error');
    return;
  }
  storeToken(token);
  elements.tokenInput.value = '';
  announce(`Signed in as ${session.name} (${session.role}).`);
  showSignedIn();
  if (!location.hash || location.hash === '#/') location.hash = '#/studies';
  else void route();
}

function signOut(message) {
  stopView();
  stopView = () => {};
  forgetToken();
  session = undefined;
  elements.view.hidden = true;
  elements.view.replaceChildren();
  elements.nav.hidden = true;
  elements.signOut.hidden = true;
  elements.session.textContent = '';
  elements.signInView.hidden = false;
  announce(message);
  elements.tokenInput.focus();
}

function showSignedIn() {
  elements.signInView.hidden = true;
  elements.view.hidden = false;
  elements.nav.hidden = false;
  elements.navAudit.hidden = !session.permissions.includes('audit');
  elements.signOut.hidden = false;
  elements.session.textContent = `${session.name} (${session.role})`;
}

async function route() {
  if (!session) return;
  stopView();
  stopView = () => {};
  const hash = location.hash || '#/studies';
  for (const link of elements.nav.querySelectorAll('a')) {
    if (hash.startsWith(link.getAttribute('href'))) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  try {
    const study = /^#\/studies\/(.+)$/.exec(hash);
    if (study) stopView = (await showStudy(elements.view, decodeURIComponent(study[1]), context)) ?? stopView;
    else if (hash === '#/audit') await showAudit(elements.view, context);
    else stopView = showStudies(elements.view, context, STUDIES_POLL_MS);
    elements.view.querySelector('h1')?.focus();
  } catch (error) {
    report(error);
  }
}

elements.signInForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const token = elements.tokenInput.value.trim();
  if (token) void signIn(token);
});
elements.signOut.addEventListener('click', () => signOut('Signed out.'));
window.addEventListener('hashchange', () => void route());

const saved = storedToken();
if (saved) void signIn(saved);
else elements.tokenInput.focus();
