// Independent OpenID provider for the end-to-end tests: node's `oidc-provider`
// (a certified OP) on 127.0.0.1, configured like a Stytch Connected App for one
// native public client that uses the loopback redirect and PKCE, with Dynamic Client
// Registration open for more (zero configuration).
//
//   PORT=0 node server.mjs      -> prints ONE JSON line on stdout, then nothing:
//   {"issuer": "http://127.0.0.1:PORT", "port": PORT, "resource": "<RESOURCE>"}
//
// Environment: PORT (default 0 = any free port), AT_TTL (access token seconds,
// default 3600), RT_TTL (refresh token seconds, default 86400), RESOURCE (the API
// the JWT access tokens are for, default http://127.0.0.1:9/api).
//
// Test-only routes on the same Koa app (not part of any real provider):
//   POST /e2e/revoke-all  destroys every grant, token, code and session in the store
//   GET  /e2e/counters    token endpoint requests by grant_type (and outcome)

import http from 'node:http';

// oidc-provider prints notices with console.info (stdout). stdout is reserved for
// the single JSON line, so route console.log/info to stderr BEFORE importing it.
console.log = (...args) => console.error(...args);
console.info = (...args) => console.error(...args);

const { default: Provider } = await import('oidc-provider');
const jose = await import('jose');

const CLIENT_ID = 'e2e-native-cli';

function intEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number.parseInt(raw, 10);
  if (!Number.isInteger(value) || value < 0 || String(value) !== raw.trim()) {
    throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
  }
  return value;
}

const port = intEnv('PORT', 0);
const AT_TTL = intEnv('AT_TTL', 3600);
const RT_TTL = intEnv('RT_TTL', 86400);
const RESOURCE = process.env.RESOURCE || 'http://127.0.0.1:9/api';
const RESOURCE_SCOPE = 'openid email profile offline_access api:read';

// ---------------------------------------------------------------------------
// In-memory adapter: one Map per process, with a `revokeAll` for /e2e/revoke-all.
// No expiry bookkeeping beyond `expiresAt` checks on read (the process is short-lived).
// ---------------------------------------------------------------------------
const store = new Map(); // key `${model}:${id}` -> { payload, expiresAt }
const index = {
  sessionUid: new Map(), // uid -> session id
  userCode: new Map(), // userCode -> id
  grant: new Map(), // grantId -> Set of keys
};
const GRANTABLE = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'PreAuthorizedCode',
]);

function liveEntry(key) {
  const entry = store.get(key);
  if (!entry) return undefined;
  if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
    store.delete(key);
    return undefined;
  }
  return entry;
}

class E2EMemoryAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : undefined;
    store.set(key, { payload, expiresAt });
    if (this.model === 'Session' && payload.uid) index.sessionUid.set(payload.uid, id);
    if (payload.userCode) index.userCode.set(payload.userCode, id);
    if (GRANTABLE.has(this.model) && payload.grantId) {
      if (!index.grant.has(payload.grantId)) index.grant.set(payload.grantId, new Set());
      index.grant.get(payload.grantId).add(key);
    }
  }

  async find(id) {
    return liveEntry(this.key(id))?.payload;
  }

  async findByUid(uid) {
    const id = index.sessionUid.get(uid);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode(userCode) {
    const id = index.userCode.get(userCode);
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id) {
    const entry = liveEntry(this.key(id));
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    store.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    for (const key of index.grant.get(grantId) ?? []) store.delete(key);
    index.grant.delete(grantId);
  }
}

function revokeAll() {
  const removed = {};
  for (const key of [...store.keys()]) {
    const model = key.slice(0, key.indexOf(':'));
    if (model === 'Client' || model === 'Interaction') continue;
    store.delete(key);
    removed[model] = (removed[model] ?? 0) + 1;
  }
  index.grant.clear();
  index.sessionUid.clear();
  index.userCode.clear();
  return removed;
}

// ---------------------------------------------------------------------------
// Accounts: any login is accepted by devInteractions; the entered login becomes
// the `sub`. Every account looks like Ada.
// ---------------------------------------------------------------------------
async function findAccount(_ctx, sub) {
  return {
    accountId: sub,
    async claims() {
      return {
        sub,
        email: 'ada@example.com',
        email_verified: true,
        name: 'Ada Lovelace',
        given_name: 'Ada',
        family_name: 'Lovelace',
      };
    },
  };
}

// ---------------------------------------------------------------------------
// Counters for GET /e2e/counters.
// ---------------------------------------------------------------------------
const counters = {
  token_requests: {}, // grant_type -> number of token endpoint requests
  token_success: {}, // grant_type -> successes
  token_error: {}, // grant_type -> { error code -> count }
  revocation_requests: 0,
  introspection_requests: 0,
};

function grantTypeOf(ctx) {
  return ctx.oidc?.params?.grant_type ?? 'unknown';
}

async function main() {
  const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
  const signingKey = { ...(await jose.exportJWK(privateKey)), kid: 'e2e-rs256', alg: 'RS256', use: 'sig' };

  const server = http.createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const actualPort = server.address().port;
  const issuer = `http://127.0.0.1:${actualPort}`;

  const provider = new Provider(issuer, {
    adapter: E2EMemoryAdapter,
    clients: [
      {
        client_id: CLIENT_ID,
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        // RFC 8252 §7.3: oidc-provider accepts any port on this loopback URI.
        redirect_uris: ['http://127.0.0.1/callback'],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
      },
    ],
    jwks: { keys: [signingKey] },
    cookies: { keys: ['e2e-cookie-key-not-secret-1', 'e2e-cookie-key-not-secret-2'] },
    findAccount,
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'given_name', 'family_name'],
    },
    scopes: ['openid', 'offline_access', 'email', 'profile', 'api:read'],
    // PKCE: required for every client here; oidc-provider v9 only implements S256.
    pkce: { required: () => true },
    // Refresh token rotation; reusing a consumed refresh token revokes the whole
    // grant (oidc-provider's default behaviour, kept on purpose).
    rotateRefreshToken: true,
    // offline_access: see the /auth middleware below. With offline_access kept in
    // the granted scope, the default issueRefreshToken (refresh_token grant allowed
    // AND offline_access granted) issues a refresh token.
    ttl: {
      AccessToken: AT_TTL,
      AuthorizationCode: 60,
      IdToken: 3600,
      RefreshToken: RT_TTL,
      Grant: Math.max(RT_TTL, AT_TTL),
      Interaction: 600,
      Session: 86400,
    },
    features: {
      devInteractions: { enabled: true },
      revocation: { enabled: true },
      introspection: { enabled: true },
      // RFC 7591 Dynamic Client Registration, open (no initial access token), as the
      // zero-configuration chain expects of a server that lists registration_endpoint.
      registration: { enabled: true },
      // RFC 8707: an access token is for the resource the client asked for (its `aud`), or
      // for RESOURCE when it asked for none.
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => RESOURCE,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, resourceIndicator) => ({
          scope: RESOURCE_SCOPE,
          audience: resourceIndicator,
          accessTokenTTL: AT_TTL,
          accessTokenFormat: 'jwt', // RFC 9068 RS256 JWT (typ at+jwt), key at /jwks
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
  });

  provider.on('grant.success', (ctx) => {
    const gt = grantTypeOf(ctx);
    counters.token_success[gt] = (counters.token_success[gt] ?? 0) + 1;
  });
  provider.on('grant.error', (ctx, err) => {
    const gt = grantTypeOf(ctx);
    const code = err?.error ?? err?.name ?? 'unknown';
    counters.token_error[gt] ??= {};
    counters.token_error[gt][code] = (counters.token_error[gt][code] ?? 0) + 1;
  });
  provider.on('server_error', (_ctx, err) => {
    console.error('oidc-provider server_error:', err);
  });

  provider.use(async (ctx, next) => {
    // Test-only routes.
    if (ctx.path === '/e2e/revoke-all') {
      if (ctx.method !== 'POST') {
        ctx.status = 405;
        return;
      }
      ctx.type = 'application/json';
      ctx.body = { revoked: revokeAll() };
      return;
    }
    if (ctx.path === '/e2e/counters') {
      if (ctx.method !== 'GET') {
        ctx.status = 405;
        return;
      }
      ctx.type = 'application/json';
      ctx.body = counters;
      return;
    }

    // offline_access without prompt=consent. By default (OIDC Core §11) oidc-provider
    // silently drops offline_access unless the request carries prompt=consent, so no
    // refresh token is issued. Stytch issues a refresh token for offline_access
    // without prompt=consent, so we CHOSE to emulate that: when an authorization
    // request (GET /auth) asks for offline_access and has no `prompt` at all, add
    // prompt=consent. offline_access then stays in the granted scope, the consent
    // page is still shown (it always is on a fresh browser profile anyway), and the
    // default issueRefreshToken issues a refresh token. A request WITHOUT
    // offline_access gets no refresh token; an explicit other prompt (e.g.
    // prompt=login) keeps the standard behaviour (offline_access dropped).
    if (ctx.method === 'GET' && ctx.path === '/auth') {
      const scope = typeof ctx.query.scope === 'string' ? ctx.query.scope : '';
      if (scope.split(' ').includes('offline_access') && ctx.query.prompt === undefined) {
        ctx.query = { ...ctx.query, prompt: 'consent' };
      }
    }

    if (ctx.method === 'POST') {
      if (ctx.path === '/token') {
        // Count the request before the provider runs; the grant_type is only known
        // once the provider has parsed the body, so count after it finished.
        try {
          await next();
        } finally {
          const gt = grantTypeOf(ctx);
          counters.token_requests[gt] = (counters.token_requests[gt] ?? 0) + 1;
        }
        return;
      }
      if (ctx.path === '/token/revocation') counters.revocation_requests += 1;
      if (ctx.path === '/token/introspection') counters.introspection_requests += 1;
    }
    await next();
  });

  server.on('request', provider.callback());

  process.stdout.write(
    `${JSON.stringify({ issuer, port: actualPort, resource: RESOURCE })}\n`,
  );

  let stopping = false;
  const stop = (signal) => {
    if (stopping) return;
    stopping = true;
    console.error(`e2e oidc-provider: ${signal}, shutting down`);
    server.close(() => process.exit(0));
    server.closeAllConnections();
    // Bounded: never hang on a stuck connection.
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err) => {
  console.error('e2e oidc-provider failed to start:', err);
  process.exit(1);
});
