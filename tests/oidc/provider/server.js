// A municipality's identity provider for the sign-in tests: oidc-provider (a certified OpenID
// provider) with its development login and consent pages, started by tests/oidc/provider.py.
//
// node server.js <config.json>: the file names the port, the issuer, the clients and the signing
// keys (private JWKs, made by the tests). Accounts live in memory and are set over HTTP by the
// tests, beside the provider's own routes:
//   PUT  /test/accounts/<sub>  {email, name, groups, active}   who may sign in, with what groups
//   POST /test/rotate          {keys: [...]}                    new signing keys (first one signs)
//   POST /test/next-id-token   {id_token}                       the next /token answer carries it
// A rotation builds a new Provider over the same in-memory store, as a restarted provider would.
import fs from 'node:fs';
import http from 'node:http';

import Provider from 'oidc-provider';

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const accounts = new Map();
const substitutes = [];

function account(sub) {
  const found = accounts.get(sub);
  if (!found || !found.active) return undefined;
  return {
    accountId: sub,
    async claims() {
      return { sub, email: found.email, email_verified: true, name: found.name, groups: found.groups };
    },
  };
}

function build(keys) {
  const provider = new Provider(config.issuer, {
    clients: config.clients,
    jwks: { keys },
    findAccount: (ctx, sub) => account(sub),
    scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
    claims: { email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'] },
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
    features: {
      devInteractions: { enabled: true },
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: { enabled: true },
    },
    // Lindra listens on loopback in the tests, which the provider's guard against server-side
    // request forgery refuses to call: the back-channel logout goes without it here.
    fetch: (url, options) => globalThis.fetch(url, { ...options, dispatcher: undefined }),
    ttl: { AccessToken: 600, IdToken: 600, RefreshToken: 86400, Session: 86400, Grant: 86400, Interaction: 600 },
  });
  provider.on('backchannel.error', (ctx, error) => console.error('back-channel logout failed:', String(error)));
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path === '/token' && ctx.status === 200 && substitutes.length) {
      ctx.body = { ...ctx.body, id_token: substitutes.shift() };
    }
  });
  return provider;
}

let handler = build(config.keys).callback();

async function json(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return body ? JSON.parse(body) : {};
}

async function control(req, res) {
  const body = await json(req);
  if (req.method === 'PUT' && req.url.startsWith('/test/accounts/')) {
    accounts.set(decodeURIComponent(req.url.slice('/test/accounts/'.length)), body);
  } else if (req.method === 'POST' && req.url === '/test/rotate') {
    handler = build(body.keys).callback();
  } else if (req.method === 'POST' && req.url === '/test/next-id-token') {
    substitutes.push(body.id_token);
  } else {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(204).end();
}

http
  .createServer((req, res) => {
    if (req.url.startsWith('/test/')) {
      control(req, res).catch((error) => res.writeHead(500).end(String(error)));
    } else {
      handler(req, res);
    }
  })
  .listen(config.port, '127.0.0.1', () => console.log('listening'));
