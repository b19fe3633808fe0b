// The small piece of a browser that login.mjs and device.mjs share: a cookie
// jar, one request at a time with redirects followed by hand, and a reader
// for the provider's HTML forms. fetch has no cookie jar and, following
// redirects itself, would hide the one redirect the tests care about (the one
// back to Warden), so both are done here.

// Cookies are kept the way a browser scopes them: by host name (not port, so
// Warden and the provider on 127.0.0.1 share them as they would in a real
// browser), path prefix, Secure and expiry. The provider's cookies are path
// scoped (/interaction/<uid>, /auth/<uid>) and it clears them by expiring
// them; sending every cookie everywhere, or an expired one, confuses it.
class CookieJar {
  #cookies = new Map(); // `${host} ${path} ${name}` -> { host, path, name, value, secure, expires }

  store(url, setCookieHeaders) {
    const { hostname, pathname } = new URL(url);
    for (const header of setCookieHeaders) {
      const [pair, ...attributes] = header.split(';');
      const equals = pair.indexOf('=');
      if (equals < 1) continue;
      const cookie = {
        host: hostname,
        path: pathname.slice(0, pathname.lastIndexOf('/')) || '/', // RFC 6265 default-path
        name: pair.slice(0, equals).trim(),
        value: pair.slice(equals + 1).trim(),
        secure: false,
        expires: Infinity,
      };
      for (const attribute of attributes) {
        const [key, ...rest] = attribute.split('=');
        const value = rest.join('=').trim();
        switch (key.trim().toLowerCase()) {
          case 'path': if (value.startsWith('/')) cookie.path = value; break;
          case 'secure': cookie.secure = true; break;
          case 'expires': cookie.expires = Math.min(cookie.expires, Date.parse(value)); break;
          case 'max-age': cookie.expires = Date.now() + Number(value) * 1000; break;
          default: break;
        }
      }
      const key = `${cookie.host} ${cookie.path} ${cookie.name}`;
      if (cookie.expires <= Date.now()) this.#cookies.delete(key);
      else this.#cookies.set(key, cookie);
    }
  }

  // The Cookie header for `url`, or undefined when nothing applies: the
  // provider answers server_error to an empty Cookie header.
  header(url) {
    const { hostname, pathname, protocol } = new URL(url);
    const now = Date.now();
    const matching = [...this.#cookies.values()].filter((cookie) => cookie.host === hostname
      && cookie.expires > now
      && (!cookie.secure || protocol === 'https:')
      && (pathname === cookie.path || pathname.startsWith(cookie.path.endsWith('/') ? cookie.path : `${cookie.path}/`)));
    if (matching.length === 0) return undefined;
    matching.sort((a, b) => b.path.length - a.path.length); // longer paths first, as browsers send them
    return matching.map((cookie) => `${cookie.name}=${cookie.value}`).join('; ');
  }
}

const ENTITIES = { amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'", '#x27': "'", apos: "'" };
function decodeEntities(text) {
  return text.replace(/&(amp|lt|gt|quot|#39|#x27|apos);/g, (_, name) => ENTITIES[name]);
}

function attributesOf(tag) {
  const attributes = {};
  for (const match of tag.matchAll(/([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?/g)) {
    attributes[match[1].toLowerCase()] = decodeEntities(match[2] ?? match[3] ?? match[4] ?? '');
  }
  return attributes;
}

// Every <form> on a page: its id, absolute action, method and the values of
// its named <input>s (buttons are left out: a browser sends only the one
// clicked, and the forms here need none).
export function formsOf(html, pageUrl) {
  const forms = [];
  for (const match of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const attributes = attributesOf(match[1]);
    const inputs = {};
    for (const input of match[2].matchAll(/<input\b([^>]*)>/gi)) {
      const field = attributesOf(input[1]);
      if (field.name) inputs[field.name] = field.value ?? '';
    }
    forms.push({
      id: attributes.id ?? '',
      action: new URL(attributes.action ?? '', pageUrl).toString(),
      method: (attributes.method ?? 'get').toUpperCase(),
      inputs,
    });
  }
  return forms;
}

// An <a href> whose text matches `text`, made absolute; undefined if none.
export function linkTo(html, pageUrl, text) {
  for (const match of html.matchAll(/<a\b([^>]*)>([\s\S]*?)<\/a>/gi)) {
    if (text.test(match[2])) return new URL(attributesOf(match[1]).href ?? '', pageUrl).toString();
  }
  return undefined;
}

// The start of a page with the styling stripped, for the message when a
// script does not recognise where it is. The provider's error page gets its
// error named first: "error: invalid_redirect_uri (redirect_uri did not ...)".
export function excerpt(html, length = 1200) {
  const error = html.match(/<strong>error<\/strong>: ([^<]*)/);
  const description = html.match(/<strong>error_description<\/strong>: ([^<]*)/);
  const named = error ? `error: ${decodeEntities(error[1])} (${decodeEntities(description?.[1] ?? '')}); page: ` : '';
  return named + html.replace(/<style[\s\S]*?<\/style>/gi, '').replace(/\s+/g, ' ').slice(0, length);
}

export class Agent {
  jar = new CookieJar();

  // One request, no redirects followed: { status, location, url, body }.
  async request(url, { method = 'GET', form } = {}) {
    const headers = {};
    const cookie = this.jar.header(url);
    if (cookie) headers.cookie = cookie;
    let body;
    if (form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(form).toString();
    }
    const response = await fetch(url, { method, headers, body, redirect: 'manual' });
    this.jar.store(url, response.headers.getSetCookie());
    const location = response.headers.get('location');
    return {
      status: response.status,
      location: location ? new URL(location, url).toString() : undefined,
      url,
      body: await response.text(),
    };
  }

  // Follows redirects from `url` until a page (no Location), or until a
  // redirect to a URL `stop` accepts: { page } or { stopped: url }. A
  // redirect after a POST becomes a GET, as in a browser (the provider
  // answers 303).
  async navigate(url, { method = 'GET', form, stop = () => false } = {}) {
    let step = await this.request(url, { method, form });
    for (let hops = 0; hops < 20; hops++) {
      if (!step.location) return { page: step };
      if (stop(step.location)) return { stopped: step.location };
      step = await this.request(step.location);
    }
    throw new Error(`more than 20 redirects, the last to ${step.location}`);
  }
}

// --name value options; `repeatable` names collect every value in an array,
// `flags` take no value.
export function parseArguments(argv, { repeatable = [], flags = [] } = {}) {
  const options = {};
  for (const name of repeatable) options[name] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${arg}`);
    const name = arg.slice(2);
    if (flags.includes(name)) {
      options[name] = true;
      continue;
    }
    if (i + 1 >= argv.length) throw new Error(`${arg} needs a value`);
    if (repeatable.includes(name)) options[name].push(argv[++i]);
    else options[name] = argv[++i];
  }
  return options;
}
