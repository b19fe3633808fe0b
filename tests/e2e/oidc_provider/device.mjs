// The person with a browser in Warden's device-flow tests: Warden (or a
// Warden client) shows a verification URI and a user code; this opens the
// page, types the code, confirms the device, logs in and consents (or
// cancels with --deny) while Warden polls the token endpoint.
//
//   node device.mjs --verification-uri URI --user-code CODE --login NAME [--deny]
//
// prints {"ok":true} (with --deny {"ok":true,"denied":true}) and exits 0, or
// prints {"ok":false,"error":"..."}, the page on stderr, and exits 1.
// README.md is the full contract.

import { Agent, excerpt, formsOf, linkTo, parseArguments } from './agent.mjs';

function finish(result, page) {
  process.stdout.write(`${JSON.stringify(result)}\n`);
  if (!result.ok) {
    process.stderr.write(`device.mjs: ${result.error}\n`);
    if (page) process.stderr.write(`at ${page.url} (HTTP ${page.status}): ${excerpt(page.body)}\n`);
  }
  process.exit(result.ok ? 0 : 1);
}
const fail = (error, page) => finish({ ok: false, error }, page);

let options;
try {
  options = parseArguments(process.argv.slice(2), { flags: ['deny'] });
} catch (error) {
  fail(error.message);
}
for (const name of ['verification-uri', 'user-code', 'login']) {
  if (!options[name]) fail(`--${name} is required`);
}

const agent = new Agent();

// Each page is recognised by its form: the code entry form, the "is this
// your device" confirmation, the login and consent pages of
// devInteractions, then the provider's success page. Pages are handled in
// whatever order they come, but none twice.
async function run() {
  let { page } = await agent.navigate(options['verification-uri']);
  const done = new Set();
  const once = (what) => {
    if (done.has(what)) fail(`the ${what} page came back after it was submitted`, page);
    done.add(what);
  };
  const submit = async (form, fields) => {
    ({ page } = await agent.navigate(form.action, { method: form.method, form: { ...form.inputs, ...fields } }));
  };
  for (;;) {
    const forms = formsOf(page.body, page.url);
    const byId = (id) => forms.find((form) => form.id === id);
    const prompt = forms.find((form) => form.inputs.prompt);
    if (/<title>Sign-in Success<\/title>/.test(page.body)) {
      if (options.deny) fail('signed in although --deny was given', page);
      return { ok: true };
    }
    if (byId('op.deviceInputForm')) {
      // Shown first, and again with a message when something went wrong.
      if (/interrupted/.test(page.body) && options.deny && done.has('consent')) return { ok: true, denied: true };
      if (/incorrect/.test(page.body)) fail('the provider rejected the user code', page);
      if (done.has('code')) fail('the code entry page came back', page);
      once('code');
      await submit(byId('op.deviceInputForm'), { user_code: options['user-code'] });
    } else if (byId('op.deviceConfirmForm')) {
      once('confirm');
      await submit(byId('op.deviceConfirmForm'), {}); // carries confirm=yes
    } else if (prompt?.inputs.prompt === 'login') {
      once('login');
      await submit(prompt, { login: options.login, password: 'any password will do' });
    } else if (prompt?.inputs.prompt === 'consent') {
      once('consent');
      if (options.deny) {
        const cancel = linkTo(page.body, page.url, /Cancel/);
        if (!cancel) fail('no Cancel link on the consent page', page);
        ({ page } = await agent.navigate(cancel));
      } else {
        await submit(prompt, {});
      }
    } else if (forms.length === 1 && forms[0].inputs.xsrf && forms[0].inputs.user_code) {
      // verification_uri_complete answers with a self-submitting form that
      // carries the code; a browser would run its script.
      once('prefilled code');
      await submit(forms[0], {});
    } else {
      fail('a page this script does not know', page);
    }
  }
}

try {
  finish(await run());
} catch (error) {
  fail(error.cause ? `${error.message}: ${error.cause.message}` : error.message);
}
