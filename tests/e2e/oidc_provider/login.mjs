// The person at the browser in Warden's code-flow tests. Warden builds the
// authorization URL (or the URL of its own page that redirects there); this
// follows it to the provider's login and consent pages, fills them in, and
// stops where the provider sends the browser back to Warden, so the test sees
// exactly what Warden asked for and what came back.
//
//   node login.mjs --url AUTH_URL --login NAME --redirect-prefix PREFIX [--follow] [--deny]
//
// prints one line of JSON, {"redirect","code","state","iss","error","error_description"}
// (with --follow also "followed_status", "followed_location", "followed_body"),
// exit 0; or a message on stderr and exit 1. README.md is the full contract.

import { Agent, excerpt, formsOf, linkTo, parseArguments } from './agent.mjs';

function fail(message, page) {
  process.stderr.write(`login.mjs: ${message}\n`);
  if (page) process.stderr.write(`at ${page.url} (HTTP ${page.status}): ${excerpt(page.body)}\n`);
  process.exit(1);
}

let options;
try {
  options = parseArguments(process.argv.slice(2), { flags: ['follow', 'deny'] });
} catch (error) {
  fail(error.message);
}
for (const name of ['url', 'login', 'redirect-prefix']) {
  if (!options[name]) fail(`--${name} is required`);
}
const prefix = options['redirect-prefix'];
const stop = (url) => url.startsWith(prefix);
const agent = new Agent();

// The provider's devInteractions pages are told apart by their one form's
// hidden `prompt` field. A logged-in session or an earlier grant can skip
// either page, so the loop goes by what it sees, not by a fixed order.
async function reachRedirect() {
  let step = await agent.navigate(options.url, { stop });
  const seen = new Set();
  while (!step.stopped) {
    const { page } = step;
    const form = formsOf(page.body, page.url).find((candidate) => candidate.inputs.prompt);
    const prompt = form?.inputs.prompt;
    if (!prompt) fail('not a login or consent page, and no redirect to the prefix', page);
    if (seen.has(prompt)) fail(`the ${prompt} page came back after it was submitted`, page);
    seen.add(prompt);
    if (prompt === 'login') {
      const filled = { ...form.inputs, login: options.login, password: 'any password will do' };
      step = await agent.navigate(form.action, { method: 'POST', form: filled, stop });
    } else if (prompt === 'consent' && options.deny) {
      // The page's [ Cancel ] link: the provider ends the interaction with
      // access_denied and redirects back with it.
      const cancel = linkTo(page.body, page.url, /Cancel/);
      if (!cancel) fail('no Cancel link on the consent page', page);
      step = await agent.navigate(cancel, { stop });
    } else if (prompt === 'consent') {
      step = await agent.navigate(form.action, { method: 'POST', form: form.inputs, stop });
    } else {
      fail(`unknown prompt ${prompt}`, page);
    }
  }
  return step.stopped;
}

try {
  const redirect = await reachRedirect();
  const query = new URL(redirect).searchParams;
  const result = {
    redirect,
    code: query.get('code') ?? '',
    state: query.get('state') ?? '',
    iss: query.get('iss') ?? '',
    error: query.get('error') ?? '',
    error_description: query.get('error_description') ?? '',
  };
  if (options.follow) {
    // Warden's callback, with whatever cookies its own pages set earlier in
    // this run. Its answer is reported, not followed.
    const answer = await agent.request(redirect);
    result.followed_status = answer.status;
    result.followed_location = answer.location ?? '';
    result.followed_body = answer.body.slice(0, 2000);
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
} catch (error) {
  fail(error.cause ? `${error.message}: ${error.cause.message}` : error.message);
}
