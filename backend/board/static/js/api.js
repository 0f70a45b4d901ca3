// The HTTP side: login and token renewal, JSON calls with an Idempotency-Key per user action,
// and RFC 9457 problems turned into errors whose message is the problem's `detail`.
//
// The access token lives in memory only. The refresh token is kept in sessionStorage (this tab,
// gone when it closes) so that reloading the board during a night does not log the coordinator out.

const REFRESH_KEY = "lindra.board.refresh";
// This tab's device key: a random secret sent at login and with every refresh, so that a refresh
// token copied from here is useless without it, and a retry after a lost answer is told apart.
const DEVICE_KEY = "lindra.board.device-key";

function deviceKey() {
  let key = sessionStorage.getItem(DEVICE_KEY);
  if (!key) {
    const bytes = crypto.getRandomValues(new Uint8Array(32));
    key = btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    sessionStorage.setItem(DEVICE_KEY, key);
  }
  return key;
}
const RENEW_BEFORE_SECONDS = 60; // renew a minute before the 10-minute token runs out
const WRITE_ATTEMPTS = 3;

const DEVICE = { platform: "web", app_version: "board-1" };

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
    this.rule = problem?.rule ?? null;
  }
}

export class NetworkError extends Error {}

function decodeJwtPayload(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part));
  } catch {
    return {};
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The server said no (the session is over), as opposed to not answering. */
export function refused(error) {
  return error instanceof ApiError && error.status < 500;
}

export function newKey() {
  return crypto.randomUUID();
}

export class Api {
  /** onTokens(accessToken): a new access token (the live socket re-sends it); onLoggedOut(): log in again. */
  constructor({ onTokens = () => {}, onLoggedOut = () => {} } = {}) {
    this.onTokens = onTokens;
    this.onLoggedOut = onLoggedOut;
    this.access = null;
    this.user = null;
    this.serverOffsetMs = 0;
    this._refreshing = null;
    this._timer = null;
  }

  get loggedIn() {
    return this.access !== null;
  }

  /** The server's clock as this browser estimates it: countdowns count to the server's deadlines. */
  serverNow() {
    return Date.now() + this.serverOffsetMs;
  }

  /** `newPassword` is sent when the user chooses one (required once an administrator set hers);
   * `otp`, the code of an admin's or coordinator's authenticator app (or a recovery code). */
  async login(email, password, newPassword = null, otp = null) {
    const body = { email, password, device: DEVICE, device_key: deviceKey() };
    if (newPassword) body.new_password = newPassword;
    if (otp) body.otp = otp;
    const tokens = await this._fetchJson("POST", "/auth/login", body, {});
    this._accept(tokens);
    return tokens.user;
  }

  /** Redeem the one-time code from an invitation or reset mail: choose a password and sign in. */
  async choosePassword(code, newPassword) {
    const body = { code, new_password: newPassword, device: DEVICE, device_key: deviceKey() };
    const tokens = await this._fetchJson("POST", "/auth/password", body, {});
    this._accept(tokens);
    return tokens.user;
  }

  /** The municipalities whose staff sign in with their own provider. */
  providers() {
    return this._fetchJson("GET", "/auth/oidc/providers", null, {});
  }

  /** Go to the municipality's provider; it sends the browser back to /board#federated. A SAML
   * provider's sign-in starts at Lindra's /login, which binds it to this browser with a cookie. */
  async startFederated(provider) {
    if (provider.protocol === "saml") {
      window.location.assign(`/auth/saml/${encodeURIComponent(provider.municipality_id)}/login`);
      return;
    }
    const body = { municipality_id: provider.municipality_id, client: "board", device_key: deviceKey() };
    const started = await this._fetchJson("POST", "/auth/oidc/start", body, {});
    window.location.assign(started.authorize_url);
  }

  /** Back from the provider: this tab's tokens for the sign-in Lindra checked on the way. */
  async collectFederated() {
    const body = { device_key: deviceKey(), device: DEVICE };
    const tokens = await this._fetchJson("POST", "/auth/oidc/collect", body, {});
    this._accept(tokens);
    return tokens.user;
  }

  /** Start setting up the authenticator app: the new secret, as an otpauth URI and as text. */
  enrolSecondFactor(email, password) {
    return this._fetchJson("POST", "/auth/second-factor/enrol", { email, password }, {});
  }

  /** The app's first code: signs in (unless the password must still change) and gives the
   * recovery codes, shown once. */
  async confirmSecondFactor(email, password, otp) {
    const body = { email, password, otp, device: DEVICE, device_key: deviceKey() };
    const confirmed = await this._fetchJson("POST", "/auth/second-factor/confirm", body, {});
    if (confirmed.session) this._accept(confirmed.session);
    return { recoveryCodes: confirmed.recovery_codes, user: confirmed.session?.user ?? null };
  }

  /** After a reload: log in again with the refresh token this tab kept, if any. */
  async resume() {
    if (!sessionStorage.getItem(REFRESH_KEY)) return null;
    try {
      await this.refreshNow();
      return this.user;
    } catch {
      return null;
    }
  }

  async logout() {
    if (this.access) {
      try {
        await this.send("POST", "/auth/logout", null);
      } catch {
        // Logging out locally matters more than telling the server.
      }
    }
    this._forget();
  }

  /** Swap the refresh token for new tokens. One at a time: a refresh token works once, and
   * presenting a used one again signs the device out. */
  refreshNow() {
    if (!this._refreshing) {
      const token = sessionStorage.getItem(REFRESH_KEY);
      this._refreshing = (async () => {
        if (!token) throw new ApiError(401, { detail: "No session." });
        const body = { refresh_token: token, device_key: deviceKey() };
        const tokens = await this._fetchJson("POST", "/auth/refresh", body, {});
        this._accept(tokens);
      })().finally(() => {
        this._refreshing = null;
      });
    }
    return this._refreshing;
  }

  _accept(tokens) {
    this.access = tokens.access_token;
    this.user = tokens.user;
    sessionStorage.setItem(REFRESH_KEY, tokens.refresh_token);
    // The token's issue time is the server's clock at that moment (whole seconds).
    const issued = decodeJwtPayload(tokens.access_token).iat;
    if (typeof issued === "number") this.serverOffsetMs = issued * 1000 + 500 - Date.now();
    clearTimeout(this._timer);
    const renewIn = Math.max(5, (tokens.expires_in || 600) - RENEW_BEFORE_SECONDS);
    this._timer = setTimeout(() => this._renew(), renewIn * 1000);
    this.onTokens(this.access);
  }

  /** Renew ahead of expiry. A network outage is waited out (the refresh token lasts for days);
   * only a refusal ends the session. */
  async _renew() {
    let wait = 2000;
    while (this.access !== null) {
      try {
        await this.refreshNow();
        return;
      } catch (error) {
        if (refused(error)) {
          this._loggedOut();
          return;
        }
        await sleep(wait);
        wait = Math.min(wait * 2, 30000);
      }
    }
  }

  _forget() {
    clearTimeout(this._timer);
    this.access = null;
    this.user = null;
    sessionStorage.removeItem(REFRESH_KEY);
  }

  _loggedOut() {
    const was = this.access !== null;
    this._forget();
    if (was) this.onLoggedOut();
  }

  get(path) {
    return this.send("GET", path);
  }

  /** A change: one fresh Idempotency-Key for this user action, reused by the retries below. */
  post(path, body = null) {
    return this.send("POST", path, body, newKey());
  }

  /** GET, or a change under `key`. A change that meets a network failure or a busy server is sent
   * again with the same key, so the server applies it once; an expired token is renewed first. */
  async send(method, path, body = null, key = null, raw = false) {
    const attempts = method === "GET" ? 1 : WRITE_ATTEMPTS;
    let renewed = false;
    for (let attempt = 1; ; attempt += 1) {
      const headers = { Authorization: `Bearer ${this.access}` };
      if (key) headers["Idempotency-Key"] = key;
      try {
        return await this._fetchJson(method, path, body, headers, raw);
      } catch (error) {
        if (error instanceof ApiError && error.status === 401 && !renewed) {
          renewed = true;
          try {
            await this.refreshNow();
          } catch (refreshError) {
            if (refused(refreshError)) this._loggedOut();
            throw error;
          }
          attempt -= 1;
          continue;
        }
        const passing = error instanceof NetworkError || (error instanceof ApiError && error.status >= 502);
        if (!passing || attempt >= attempts) throw error;
        await sleep(500 * 2 ** (attempt - 1));
      }
    }
  }

  async _fetchJson(method, path, body, headers, raw = false) {
    const init = { method, headers: { Accept: "application/json", ...headers }, cache: "no-store" };
    if (body !== null && body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (error) {
      throw new NetworkError(error.message);
    }
    if (!response.ok) {
      let problem = null;
      try {
        problem = await response.json();
      } catch {
        problem = null;
      }
      throw new ApiError(response.status, problem);
    }
    if (raw) return response;
    if (response.status === 204) return null;
    return response.json();
  }
}
